"""Metrics and readiness as an operator sees them: real workers against the sandbox over HTTP,
`/metrics` scraped over HTTP, every named series checked against the ledger and the dead letters."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import RunningSandbox
from sandbox.server import Fault
from services.app import build_runtime, build_workers
from services.config import parse_network
from services.ops.embedded_redis import start_embedded
from services.ops.status import dead_letters, item_deliveries
from services.pipeline.ledger import Ledger
from services.runtime import Settings, now
from tests.support.harness import wait_for, wait_idle
from tests.support.sandbox_network import x_telegram_network

AGENCIES = {
    "khz-roads": ("اداره کل راه و شهرسازی خوزستان", "1001", "@khz_roads"),
    "khz-rail": ("اداره کل راه‌آهن جنوب", "1002", "@south_rail"),
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(found: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in found.items()
        if sample == name and all((k, v) in sample_labels for k, v in labels.items())
    )


async def test_metrics_after_a_sandbox_run_match_the_ledger_and_the_dead_letters(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    document = x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0.0, 0.3))
    network = parse_network(document, load_adapters())
    settings = Settings(
        prefix=prefix, claim_idle_ms=500, scheduler_interval_seconds=0.05, backoff_base_seconds=0.1
    )
    runtime = build_runtime(network, redis_url, settings)
    # One 503 on X (a retry) and one 429 on Telegram (the account pauses, then posts).
    sandbox.sandbox.add_fault("x", Fault(kind="error", status=503))
    sandbox.sandbox.add_fault("telegram", Fault(kind="rate_limit", reset_seconds=1.0))
    workers = build_workers(runtime, ["fanout", "deliver", "amplify", "scheduler"], metrics_port=0)
    await workers.start()
    try:
        assert workers.ops is not None
        base = workers.ops.url
        items = [
            {"id": "m-1", "agency": "khz-roads", "text": "آغاز هفته حمل‌ونقل"},
            {"id": "m-2", "agency": "khz-rail", "text": "قطار نوروزی اهواز–مشهد"},
            {"id": "m-3", "agency": "no-such-agency", "text": "ناشناس"},
        ]
        for item in items:
            await redis.xadd(runtime.keys.items, {"data": json.dumps(item, ensure_ascii=False)})
        await wait_idle(workers, timeout=30)
        status, text = await scrape(f"{base}/metrics")
        assert status == 200
        found = samples(text)

        statuses = [s for item in items for s in await item_deliveries(redis, runtime.keys, item["id"])]
        posted = Counter((s.platform, s.action) for s in statuses if s.state == "posted")
        assert sum(posted.values()) == 4 + 4  # 2 items × 2 platforms, each amplified by the other
        for (platform, action), count in posted.items():
            counted = total(
                found, "hamafza_deliveries_total", platform=platform, action=action, outcome="posted"
            )
            assert counted == count, (platform, action, text)
        assert total(found, "hamafza_deliveries_total", platform="x", outcome="retry") == 1
        assert total(found, "hamafza_deliveries_total", platform="telegram", outcome="rate_limited") == 1

        letters = Counter(letter.reason.value for _, letter in await dead_letters(redis, runtime.keys))
        assert letters == {"unknown_agency": 1}
        for reason, count in letters.items():
            assert total(found, "hamafza_dead_letters_total", reason=reason) == count

        own = Counter(platform for platform, action in posted.elements() if action == "publish")
        for platform, count in own.items():
            assert total(found, "hamafza_publish_latency_seconds_count", platform=platform) == count
            assert total(found, "hamafza_publish_latency_seconds_sum", platform=platform) > 0
        amplified = sum(count for (_, action), count in posted.items() if action != "publish")
        assert total(found, "hamafza_amplification_delay_seconds_count") == amplified

        for platform in ("x", "telegram"):
            stream = runtime.keys.deliveries(platform)
            labels = {"stream": stream, "group": "deliver"}
            assert ("hamafza_stream_lag", tuple(sorted(labels.items()))) in found
            assert total(found, "hamafza_stream_lag", **labels) == 0
            assert total(found, "hamafza_stream_pending", **labels) == 0
        assert total(found, "hamafza_stream_length", stream=runtime.keys.items) == 3

        await check_state_gauges(redis, runtime, base)
    finally:
        await workers.stop()


async def check_state_gauges(redis: Redis, runtime: Any, base: str) -> None:
    """Work waiting shows as lag; a paused account shows with why; a waiting approval counts."""
    await Ledger(redis, runtime.keys).pause_account("x", "khz-rail", now() + timedelta(minutes=5))
    await redis.xgroup_create(runtime.keys.results, "a-stalled-group", id="0")
    # An approval waiting for its decision (as services.governance.approvals records one).
    await redis.hset(
        runtime.keys.approval("ap-1"), mapping={"partner": "khz-rail", "state": "awaiting_approval"}
    )
    await redis.zadd(runtime.keys.approvals_expiring, {"ap-1": 4_102_444_800_000})
    found = samples((await scrape(f"{base}/metrics"))[1])
    assert total(found, "hamafza_paused_accounts", platform="x", reason="auth") == 1
    assert total(found, "hamafza_approvals_pending", agency="khz-rail") == 1
    stalled = {"stream": runtime.keys.results, "group": "a-stalled-group"}
    assert total(found, "hamafza_stream_lag", **stalled) == await redis.xlen(runtime.keys.results)

    health, _ = await scrape(f"{base}/healthz")
    ready, body = await scrape(f"{base}/readyz")
    assert (health, ready) == (200, 200), body


async def test_readyz_turns_503_when_redis_stops_and_200_when_it_is_back(
    sandbox: RunningSandbox, prefix: str, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(start_embedded, tmp_path / "redis", None, True)
    document = x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0.0, 0.3))
    runtime = build_runtime(parse_network(document, load_adapters()), server.url, Settings(prefix=prefix))
    workers = build_workers(runtime, ["fanout", "deliver"], metrics_port=0)
    await workers.start()
    try:
        assert workers.ops is not None
        readyz = f"{workers.ops.url}/readyz"
        status, body = await scrape(readyz)
        assert status == 200, body
        assert json.loads(body)["checks"] == {"redis": "ok", "consumer_groups": "ok"}

        await asyncio.to_thread(server.stop)
        status, body = await scrape(readyz)
        assert status == 503, body
        checks: dict[str, Any] = json.loads(body)["checks"]
        assert checks["redis"] != "ok"
        assert (await scrape(f"{workers.ops.url}/healthz"))[0] == 200  # alive, only not ready

        server = await asyncio.to_thread(start_embedded, server.directory, server.port, True)

        async def ready_again() -> bool:
            return (await scrape(readyz))[0] == 200

        await wait_for(ready_again, timeout=20, what="/readyz to answer 200 after Redis is back")
    finally:
        await workers.stop()
        server.stop()
