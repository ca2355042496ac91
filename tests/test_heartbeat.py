"""Fast recovery (issue 16): a live worker keeps what it works on, a dead worker's work is reconciled
within seconds. Two sets of real workers share one Redis, as two processes would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from adapters import MediaFile, Posted
from schemas import Delivery
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters
from services.pipeline.ledger import Ledger
from services.runtime import Runtime, Settings, encode
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.memory_platform import MemoryCredentials, MemoryPlatform
from tests.test_pipeline import network_document
from tests.test_recovery import stranded_delivery

CALL_SECONDS = 1.5


class SlowPlatform(MemoryPlatform):
    """Each call takes longer than both the lease and the claim idle time of the test's settings."""

    async def publish(
        self, credentials: MemoryCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        await asyncio.sleep(CALL_SECONDS)
        return await super().publish(credentials, delivery, media)


def make(redis_url: str, prefix: str, consumer: str, registry: dict[str, Any], **knobs: Any) -> Runtime:
    settings = Settings(prefix=prefix, scheduler_interval_seconds=0.05, max_deliveries=50, **knobs)
    runtime = build_runtime(parse_network(network_document(), registry), redis_url, settings, registry)
    runtime.consumer = consumer
    return runtime


async def test_a_live_workers_long_call_is_neither_handed_out_nor_reconciled(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    registry: dict[str, Any] = {"memory": SlowPlatform}
    knobs = {"claim_idle_ms": 300, "lease_ms": 400}
    first = make(redis_url, prefix, "worker-a", registry, **knobs)
    second = make(redis_url, prefix, "worker-b", registry, **knobs)
    async with running(first) as workers, running(second, ["deliver"]):
        for number in range(4):
            await redis.xadd(
                first.keys.items,
                xadd_fields({"id": f"slow-{number}", "agency": "khz-roads", "text": "کند", "amplify": False}),
            )
        await wait_idle(workers, timeout=30)
    # Without the heartbeat the other worker claims each entry after 300 ms, finds the 400 ms lease
    # run out, cannot reconcile and dead-letters it `unconfirmed` while the call is still running.
    assert await dead_letters(redis, first.keys) == []
    posts = [d.id for runtime in (first, second) for _, d in runtime.adapters["memory"].posts]  # type: ignore[attr-defined]
    assert sorted(posts) == [f"slow-{n}/khz-roads/memory/publish" for n in range(4)]
    for number in range(4):
        attempts = await redis.hget(first.keys.ledger(f"slow-{number}/khz-roads/memory/publish"), "attempts")
        assert attempts == b"1"


async def test_a_dead_workers_delivery_is_reconciled_within_seconds(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    runtime = make(redis_url, prefix, "survivor", registry, claim_idle_ms=1000, lease_ms=2000)
    platform = runtime.adapters["memory"]
    assert isinstance(platform, MemoryPlatform)
    platform.can_reconcile = True
    delivery = stranded_delivery()
    stream = runtime.keys.deliveries("memory")
    # A worker read the entry, claimed the delivery, posted it, and died before recording anything.
    await redis.xgroup_create(stream, "deliver", id="0", mkstream=True)
    await redis.xadd(stream, encode(delivery))
    await redis.xreadgroup("deliver", "dead-worker", {stream: ">"}, count=1)
    ledger = Ledger(runtime.redis, runtime.keys)
    assert (await ledger.claim(delivery, runtime.settings.lease_ms, "dead-worker")).verdict == "go"
    await platform.publish(MemoryCredentials(handle="khz-roads"), delivery)
    died = time.monotonic()

    async def posted() -> bool:
        return await redis.hget(runtime.keys.ledger(delivery.id), "state") == b"posted"

    async with running(runtime, ["deliver"]):
        await wait_for(posted, timeout=10, what="the dead worker's delivery to be reconciled")
    recovered = time.monotonic() - died
    # Before: the lease was 2 × timeout + 30 s (40 s here); now lease + claim idle time, about 3 s.
    assert recovered < 10
    assert len(platform.posts) == 1  # reconciled, not sent again
