"""Delayed work: `publish_at` waits in Redis, not in a process, and FastStream-published items count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from services.app import build_runtime
from services.config import parse_network
from services.ops.status import item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import network_document

REGISTRY: dict[str, Any] = {"memory": MemoryPlatform}


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    settings = Settings(prefix=prefix, scheduler_interval_seconds=0.05)
    yield build_runtime(parse_network(network_document(), REGISTRY), redis_url, settings, REGISTRY)


def memory(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def test_publish_at_waits_in_the_schedule_across_a_restart(runtime: Runtime, redis: Redis) -> None:
    due = datetime.now(UTC) + timedelta(seconds=2)
    item = {
        "id": "later",
        "agency": "khz-roads",
        "text": "بعداً",
        "publish_at": due.isoformat(),
        "amplify": False,
    }
    async with running(runtime, ["fanout"]):  # a worker that stops before the item is due

        async def scheduled() -> bool:
            return int(await redis.zcard(runtime.keys.schedule)) == 1

        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_for(scheduled, what="the item to wait in the schedule")
    assert memory(runtime).posts == []
    restarted = build_runtime(runtime.network, runtime.redis_url, runtime.settings, REGISTRY)
    restarted.adapters = runtime.adapters
    async with running(restarted) as workers:
        await wait_idle(workers)
    [(handle, delivery)] = memory(runtime).posts
    assert (handle, delivery.item_id) == ("khz-roads", "later")
    assert datetime.now(UTC) >= due


async def test_items_published_through_faststream_are_accepted(runtime: Runtime, redis: Redis) -> None:
    broker = RedisBroker(runtime.redis_url)
    await broker.connect()
    try:
        await broker.publish({"id": "fs-1", "agency": "khz-rail", "text": "از FastStream", "amplify": False},
                             stream=runtime.keys.items)  # fmt: skip
    finally:
        await broker.stop()
    async with running(runtime) as workers:
        await wait_idle(workers)
    [status] = await item_deliveries(redis, runtime.keys, "fs-1")
    assert status.state == "posted"
