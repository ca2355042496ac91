"""Accounts slow themselves down before a platform must refuse them, and an account whose
credentials were refused waits while every other account goes on."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from schemas import DeadReason
from services.app import build_runtime
from services.config import ConfigError, parse_network
from services.ops.status import dead_letters, item_deliveries
from services.pipeline.ledger import Ledger
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.memory_platform import ERRORS, MemoryPlatform
from tests.test_pipeline import network_document

REGISTRY: dict[str, Any] = {"memory": MemoryPlatform}


def make_runtime(redis_url: str, prefix: str, rate_limit: str | None = None) -> Runtime:
    document = network_document()
    if rate_limit is not None:
        document["platforms"] = {"memory": {"rate_limit": rate_limit}}
    settings = Settings(prefix=prefix, scheduler_interval_seconds=0.05, auth_pause_seconds=600)
    return build_runtime(parse_network(document, REGISTRY), redis_url, settings, REGISTRY)


def memory(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def test_an_account_never_exceeds_its_budget_and_waiting_is_no_failure(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(redis_url, prefix, rate_limit="2/2 seconds")
    async with running(runtime) as workers:
        for number in range(5):
            item = {"id": f"b{number}", "agency": "khz-roads", "text": f"خبر {number}", "amplify": False}
            await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers, timeout=30)
    times = memory(runtime).post_times
    assert len(times) == 5
    for index in range(2, len(times)):
        assert times[index] - times[index - 2] >= 1.9  # never a third post inside one 2-second window
    for number in range(5):
        [status] = await item_deliveries(redis, runtime.keys, f"b{number}")
        assert (status.state, status.attempts) == ("posted", 1)


async def test_refused_credentials_pause_that_account_only(redis_url: str, prefix: str, redis: Redis) -> None:
    runtime = make_runtime(redis_url, prefix)
    memory(runtime).failures = [ERRORS["auth"]()]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "a1", "agency": "khz-roads", "text": "۱", "amplify": False}),
        )

        async def dead_lettered() -> bool:
            return len(await dead_letters(redis, runtime.keys)) == 1

        await wait_for(dead_lettered, what="the auth failure's dead letter")
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "a2", "agency": "khz-roads", "text": "۲", "amplify": False}),
        )
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "r1", "agency": "khz-rail", "text": "۳", "amplify": False})
        )

        async def paused_and_other_posted() -> bool:
            [waiting] = await item_deliveries(redis, runtime.keys, "a2") or [None]
            others = await item_deliveries(redis, runtime.keys, "r1")
            return (
                waiting is not None
                and waiting.state == "retry_wait"
                and [s.state for s in others] == ["posted"]
            )

        await wait_for(paused_and_other_posted, what="khz-roads paused while khz-rail posts")
        assert [handle for handle, _ in memory(runtime).posts] == ["khz-rail"]

        # A person renews the credentials and resumes the account; the held delivery goes out.
        assert await Ledger(redis, runtime.keys).resume_account("memory", "khz-roads") == 1
        await wait_idle(workers)
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.AUTH_FAILED and letter.item_id == "a1"
    assert sorted(handle for handle, _ in memory(runtime).posts) == ["khz-rail", "khz-roads"]


@pytest.mark.parametrize("budget", ["lots", "5 per fortnight", "-1/minute"])
def test_a_malformed_budget_is_reported_with_its_path(budget: str) -> None:
    document = network_document()
    document["platforms"] = {"memory": {"rate_limit": budget}}
    with pytest.raises(ConfigError, match=r"platforms\.memory\.rate_limit"):
        parse_network(document, REGISTRY)


async def test_the_budget_shares_the_workers_connection_pool_under_load(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    document = network_document()
    document["platforms"] = {"memory": {"rate_limit": "1000000/minute"}}
    settings = Settings(prefix=prefix, batch_size=250, scheduler_interval_seconds=0.05)
    runtime = build_runtime(parse_network(document, REGISTRY), redis_url, settings, REGISTRY)
    async with runtime.redis.pipeline(transaction=False) as pipe:
        for number in range(250):  # one batch: 250 budget checks at once, more than a default pool
            item = {"id": f"load{number}", "agency": "khz-roads", "text": f"{number}", "amplify": False}
            pipe.xadd(runtime.keys.items, xadd_fields(item))
        await pipe.execute()
    async with running(runtime) as workers:
        await wait_idle(workers, timeout=60)
    assert len(memory(runtime).posts) == 250
    assert await dead_letters(redis, runtime.keys) == []
