"""Log hygiene (issue 16): a Redis restart under running workers is one `redis.lost` warning and one
`redis.back` line per process, not a traceback per read ("Message fetch error" at error level)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis

from services.app import build_runtime
from services.config import parse_network
from services.logs import configure
from services.ops.embedded_redis import start_embedded
from services.runtime import Settings
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import network_document


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    output = io.StringIO()
    structlog.reset_defaults()
    configure("json", "INFO", stream=output)
    yield output
    configure("json")


def lines(output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]


async def test_a_redis_restart_is_one_warning_and_one_back_line(
    tmp_path: Path, prefix: str, json_logs: io.StringIO
) -> None:
    server = await asyncio.to_thread(start_embedded, tmp_path, None, True, "always")
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    settings = Settings(prefix=prefix, claim_idle_ms=500, scheduler_interval_seconds=0.05)
    runtime = build_runtime(parse_network(network_document(), registry), server.url, settings, registry)
    client = Redis.from_url(server.url)
    try:
        async with running(runtime, ["fanout", "deliver", "amplify", "scheduler"]) as workers:
            await client.xadd(runtime.keys.items, xadd_fields({"agency": "khz-roads", "text": "پیش"}))
            await wait_idle(workers)
            server.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.process.wait)
            await asyncio.sleep(3.0)  # every reader fails every second meanwhile
            server = await asyncio.to_thread(start_embedded, tmp_path, server.port, True, "always")

            async def back() -> bool:
                return any(line["event"] == "redis.back" for line in lines(json_logs))

            await wait_for(back, timeout=20, what="redis.back")
            await client.connection_pool.disconnect()  # the test's own client: its socket died too
            await client.xadd(runtime.keys.items, xadd_fields({"agency": "khz-roads", "text": "پس"}))
            await wait_idle(workers, timeout=30)
        posted = [line for line in lines(json_logs) if line["event"] == "delivery.posted"]
        assert len({line["item_id"] for line in posted if line["action"] == "publish"}) == 2
    finally:
        await client.aclose()
        server.stop()
    logged = lines(json_logs)
    events = [line["event"] for line in logged]
    assert events.count("redis.lost") == 1, [e for e in events if e.startswith("redis")]
    assert events.count("redis.back") == 1
    assert [line for line in logged if line["level"] in ("error", "critical")] == []
    assert not any("exception" in line for line in logged)
    assert "Message fetch error" not in json_logs.getvalue()
