"""Fail safe: with HAMAFZA_CLAIM_REPLICAS set, no platform call is made while the ledger claim is not on
a replica (here there is none: WAIT answers 0), and the claim is taken back, not left `sending`."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.app import build_runtime
from services.config import parse_network
from services.ops.redis_target import RedisTarget
from services.runtime import Settings
from tests.support.harness import running, wait_for
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import network_document

REGISTRY: dict[str, Any] = {"memory": MemoryPlatform}


async def test_no_platform_call_while_the_claim_is_not_replicated(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    settings = Settings(
        prefix=prefix,
        claim_replicas=1,
        claim_replica_timeout_ms=50,
        claim_idle_ms=300,
        scheduler_interval_seconds=0.05,
    )
    runtime = build_runtime(parse_network(network_document(), REGISTRY), redis_url, settings, REGISTRY)
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    async with running(runtime, ["fanout", "deliver"]):
        item = {"id": "r-1", "agency": "khz-roads", "text": "آغاز هفته حمل‌ونقل"}
        await redis.xadd(runtime.keys.items, {"data": json.dumps(item, ensure_ascii=False)})

        async def refused_twice() -> bool:
            counted = runtime.metrics.deliveries.labels("memory", "publish", "not_replicated")._value.get()
            return bool(counted >= 2)

        await wait_for(refused_twice, timeout=20, what="claims refused for want of a replica")
    # Stopped (SIGTERM's drain included): every refused claim was taken back, so the next attempt is a
    # fresh one and not an "ambiguous" one that would need a person to check the account.
    assert adapter.posts == []
    ledger = await redis.hgetall(runtime.keys.ledger("r-1/khz-roads/memory/publish"))
    assert ledger.get(b"state") == b"retry_wait"
    assert ledger.get(b"attempts") == b"0"


def test_sentinel_urls_parse() -> None:
    target = RedisTarget.parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/hamafza/2")
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (target.master, target.db, target.password) == ("hamafza", 2, "pw")
    assert "pw" not in target.describe()
    plain = RedisTarget.parse("redis://127.0.0.1:6379/0", environ={})
    assert not plain.is_sentinel
    by_env = RedisTarget.parse(
        "redis://127.0.0.1:6379/3",
        environ={"HAMAFZA_REDIS_SENTINELS": "s1:26379,s2:26380", "HAMAFZA_REDIS_MASTER": "m"},
    )
    assert by_env.sentinels == (("s1", 26379), ("s2", 26380)) and by_env.master == "m" and by_env.db == 3
