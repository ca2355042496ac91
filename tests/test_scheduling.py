"""Delayed work: `publish_at` waits in Redis, not in a process, and FastStream-published items count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from schemas import Action, Delivery, Item
from services.app import build_runtime, build_workers
from services.config import parse_network
from services.ops.janitor import Janitor
from services.ops.status import item_deliveries
from services.pipeline.ledger import Ledger
from services.pipeline.schedule import Schedule
from services.pipeline.scheduler import Scheduler
from services.reach.snapshots import ReachDue
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


async def test_one_scheduler_releases_every_schedule_and_leaves_future_work(
    runtime: Runtime, redis: Redis
) -> None:
    """Deliveries and reach requests wait in schedules of their own; the scheduler releases the list
    `Keys.schedules`, and a schedule added to that list is released with no other change."""
    keys = runtime.keys
    extra = Schedule(f"{keys.prefix}:test-extra-schedule")  # what a later kind of delayed work adds
    past, future = datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC) + timedelta(hours=1)
    item = Item(agency="khz-roads", text="زمان‌بندی")
    request = ReachDue(delivery_id="i/khz-roads/memory/publish", offset="1h")
    async with redis.pipeline(transaction=True) as pipe:
        Schedule(keys.schedule).add(pipe, keys.items, item, past)
        Schedule(keys.schedule).add(pipe, keys.items, item.model_copy(update={"text": "بعداً"}), future)
        Schedule(keys.reach.schedule).add(pipe, keys.reach.due, request, past)
        extra.add(pipe, keys.results, request, past)
        await pipe.execute()

    scheduler = Scheduler(runtime, [*(Schedule(key) for key in keys.schedules), extra])
    assert await scheduler.tick() == 3
    assert await redis.xlen(keys.items) == 1 and await redis.xlen(keys.reach.due) == 1
    assert await redis.xlen(keys.results) == 1
    assert await Schedule(keys.schedule).size(redis) == 1  # the future item waits
    assert await scheduler.tick() == 0
    assert [Schedule(key).key for key in keys.schedules] == [keys.schedule, keys.reach.schedule]


async def test_the_janitor_is_its_own_periodic_task_beside_the_scheduler(runtime: Runtime) -> None:
    workers = build_workers(runtime, ["scheduler"])
    assert isinstance(workers.scheduler, Scheduler)
    assert [schedule.key for schedule in workers.scheduler.schedules] == list(runtime.keys.schedules)
    assert any(isinstance(loop, Janitor) for loop in workers.background)
    await runtime.aclose()
    await runtime.redis.aclose()


async def test_resuming_an_account_brings_only_its_deliveries_forward(runtime: Runtime, redis: Redis) -> None:
    keys, later = runtime.keys, datetime.now(UTC) + timedelta(hours=1)
    mine, theirs = (
        Delivery(id=f"i/{agency}/memory/publish", item_id="i", agency=agency, platform="memory",
                 action=Action.PUBLISH, origin_agency=agency)
        for agency in ("khz-roads", "khz-rail")
    )  # fmt: skip
    schedule = Schedule(keys.schedule)
    async with redis.pipeline(transaction=True) as pipe:
        for delivery in (mine, theirs):
            schedule.add(pipe, keys.deliveries("memory"), delivery, later)
        await pipe.execute()
    assert await Ledger(redis, keys).resume_account("memory", "khz-roads") == 1
    assert await Scheduler(runtime).tick() == 1
    assert await schedule.size(redis) == 1
