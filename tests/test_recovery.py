"""Crash recovery: work stranded by a dead worker is finished, never duplicated, never lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from schemas import Action, DeadReason, Delivery
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters, item_deliveries
from services.runtime import Runtime, Settings, encode
from tests.support.harness import running, wait_idle, xadd_fields
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import network_document


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    settings = Settings(
        prefix=prefix,
        claim_idle_ms=200,
        max_deliveries=3,
        scheduler_interval_seconds=0.05,
        backoff_base_seconds=0.05,
    )
    yield build_runtime(parse_network(network_document(), registry), redis_url, settings, registry)


def memory(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def test_entries_a_dead_consumer_held_are_claimed_and_posted_once(
    runtime: Runtime, redis: Redis
) -> None:
    await redis.xgroup_create(runtime.keys.items, "fanout", id="0", mkstream=True)
    await redis.xadd(
        runtime.keys.items,
        xadd_fields({"id": "orphan", "agency": "khz-roads", "text": "یتیم", "amplify": False}),
    )
    # A worker reads the entry, then dies before acknowledging it.
    taken = await redis.xreadgroup("fanout", "dead-worker", {runtime.keys.items: ">"}, count=10)
    assert len(taken[0][1]) == 1
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert [d.id for _, d in memory(runtime).posts] == ["orphan/khz-roads/memory/publish"]
    assert (await redis.xpending(runtime.keys.items, "fanout"))["pending"] == 0


def stranded_delivery() -> Delivery:
    return Delivery(
        id=Delivery.make_id("crash", "khz-roads", "memory", Action.PUBLISH),
        item_id="crash",
        agency="khz-roads",
        platform="memory",
        action=Action.PUBLISH,
        origin_agency="khz-roads",
        text="پس از سقوط",
        amplify=False,
    )


async def strand(runtime: Runtime, redis: Redis, delivery: Delivery) -> None:
    """A worker claimed the delivery, called the platform and died before recording the outcome."""
    await redis.hset(
        runtime.keys.ledger(delivery.id), mapping={"state": "sending", "lease_until": 0, "attempts": 1}
    )
    await redis.sadd(runtime.keys.item_deliveries(delivery.item_id), delivery.id)
    await redis.xadd(runtime.keys.deliveries("memory"), encode(delivery))


async def test_a_call_whose_outcome_was_lost_is_dead_lettered_unconfirmed(
    runtime: Runtime, redis: Redis
) -> None:
    delivery = stranded_delivery()
    await strand(runtime, redis, delivery)
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert memory(runtime).posts == []  # never sent blindly again
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.UNCONFIRMED and letter.item_id == "crash"


async def test_a_lost_outcome_is_reconciled_where_the_platform_can_tell(
    runtime: Runtime, redis: Redis
) -> None:
    platform = memory(runtime)
    platform.can_reconcile = True
    delivery = stranded_delivery()
    platform.posts.append(("khz-roads", delivery))  # the call did go through before the crash
    await strand(runtime, redis, delivery)
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert len(platform.posts) == 1
    [status] = await item_deliveries(redis, runtime.keys, "crash")
    assert (status.state, status.post_id) == ("posted", "1")


async def test_a_lost_outcome_the_platform_shows_absent_is_sent_once(runtime: Runtime, redis: Redis) -> None:
    platform = memory(runtime)
    platform.can_reconcile = True
    await strand(runtime, redis, stranded_delivery())
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert len(platform.posts) == 1
    [status] = await item_deliveries(redis, runtime.keys, "crash")
    assert status.state == "posted"


async def test_an_entry_handed_out_too_often_becomes_a_poison_dead_letter(
    runtime: Runtime, redis: Redis
) -> None:
    stream = runtime.keys.items
    await redis.xgroup_create(stream, "fanout", id="0", mkstream=True)
    entry_id = await redis.xadd(stream, xadd_fields({"id": "poison", "agency": "khz-roads", "text": "x"}))
    await redis.xreadgroup("fanout", "crashing-worker", {stream: ">"}, count=1)
    for _ in range(3):  # three more workers took it and crashed
        await redis.xclaim(stream, "fanout", "crashing-worker", min_idle_time=0, message_ids=[entry_id])
    async with running(runtime) as workers:
        await wait_idle(workers)
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.POISON
    assert memory(runtime).posts == []


async def test_a_corrupt_scheduled_entry_is_dead_lettered_and_the_rest_still_run(
    runtime: Runtime, redis: Redis
) -> None:
    await redis.zadd(runtime.keys.schedule, {"not json": 0, '{"stream": 5}': 0})
    item = {"id": "after-corrupt", "agency": "khz-roads", "text": "x", "amplify": False}
    await redis.zadd(
        runtime.keys.schedule, {json.dumps({"stream": runtime.keys.items, "data": json.dumps(item)}): 1}
    )
    async with running(runtime) as workers:
        await wait_idle(workers)
    letters = [letter for _, letter in await dead_letters(redis, runtime.keys)]
    assert [letter.reason for letter in letters] == [DeadReason.POISON, DeadReason.POISON]
    assert [d.item_id for _, d in memory(runtime).posts] == ["after-corrupt"]


async def test_claims_survive_redis_losing_its_script_cache(runtime: Runtime, redis: Redis) -> None:
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "s1", "agency": "khz-roads", "text": "۱", "amplify": False}),
        )
        await wait_idle(workers)
        await redis.script_flush()  # what a restarted Redis without AOF'd scripts looks like
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "s2", "agency": "khz-roads", "text": "۲", "amplify": False}),
        )
        await wait_idle(workers)
    assert [d.item_id for _, d in memory(runtime).posts] == ["s1", "s2"]
