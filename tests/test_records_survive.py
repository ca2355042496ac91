"""Done when: after a run settles, deleting every Redis key under the prefix leaves the report and
`GET /v1/items/{id}` showing the same posts, amplifications and reach as before (the records live in
the database). Replaying an old dead letter whose delivery is posted: tests/test_records.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any

from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import RunningSandbox
from services.app import build_runtime
from services.config import parse_network
from services.reach.collect import Reach
from services.records.recorder import record_pending
from services.runtime import Runtime, Settings
from tests.support.api import api_client
from tests.support.harness import running, wait_idle
from tests.test_reach import ITEMS, network_document, publish_all

TOKEN = "roads-token-for-the-records-check"


def make_runtime(sandbox: RunningSandbox, redis_url: str, prefix: str) -> Runtime:
    registry = {name: cls for name, cls in load_adapters().items() if name in {"x", "telegram"}}
    document = network_document(sandbox)
    document["agencies"]["khz-roads"]["ingest"] = {
        "api_token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()
    }
    settings = Settings(prefix=prefix, claim_idle_ms=1000, scheduler_interval_seconds=0.05)
    return build_runtime(parse_network(document, registry), redis_url, settings, registry)


async def report(prefix: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "services", "report", "--format", "json", "--prefix", prefix],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    document: dict[str, Any] = json.loads(stdout)
    document.pop("generated_at")
    return document


async def item_status(runtime: Runtime, item_id: str) -> dict[str, Any]:
    async with api_client(runtime, 64 * 1024) as http:
        response = await http.get(f"/v1/items/{item_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_the_records_outlive_every_redis_key(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix)
    async with running(runtime) as workers:
        await publish_all(runtime, redis)
        await wait_idle(workers)
    poller = make_runtime(sandbox, redis_url, prefix)
    try:
        await Reach(poller).poll(every_post=True)
    finally:
        await poller.aclose()
        await poller.redis.aclose()
    await record_pending(make_runtime(sandbox, redis_url, prefix))

    reader = make_runtime(sandbox, redis_url, prefix)
    try:
        own_item = ITEMS[0]["id"]
        status_before = await item_status(reader, own_item)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        assert len(keys) > 20
        await redis.delete(*keys)
        assert [key async for key in redis.scan_iter(match=f"{prefix}:*")] == []

        assert await item_status(reader, own_item) == status_before
    finally:
        await reader.aclose()
        await reader.redis.aclose()
    assert status_before["deliveries"] and status_before["amplifications"]
    assert all(row["state"] == "posted" and row["post_id"] for row in status_before["deliveries"])
