"""SIGTERM drains: platform calls in flight finish and are recorded, nothing stays pending under the
stopping worker, and its consumers leave their groups."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import yaml
from redis.asyncio import Redis

from sandbox import RunningSandbox
from tests.test_end_to_end import AGENCIES, network_file


async def test_sigterm_finishes_calls_in_flight_and_strands_nothing(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    config = tmp_path / "network.yaml"
    config.write_text(yaml.safe_dump(network_file(sandbox), allow_unicode=True), encoding="utf-8")
    sandbox.sandbox.latency_ms["telegram"] = 1500  # long enough to be caught mid-call
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "run", "all", "--config", str(config),
        "--redis-url", redis_url, "--prefix", prefix,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HAMAFZA_LOG_FORMAT": "json"},
    )  # fmt: skip
    deliveries = f"{prefix}:deliveries:telegram"
    started: list[bytes] = []
    try:
        # SIGTERM during FastStream's own start-up is another story: wait until it says it is up.
        assert worker.stdout is not None
        while not any(b"started successfully" in line for line in started[-1:]):
            started.append(await asyncio.wait_for(worker.stdout.readline(), timeout=30))
        for number, agency in enumerate(AGENCIES):
            item = {"id": f"drain-{number}", "agency": agency, "text": f"خبر {number}", "platforms": ["telegram"],
                    "amplify": False}  # fmt: skip
            await redis.xadd(f"{prefix}:items", {"data": json.dumps(item, ensure_ascii=False)})
        for _ in range(200):  # until the worker holds telegram deliveries, mid-call
            if (
                await redis.exists(deliveries)
                and (await redis.xpending(deliveries, "deliver"))["pending"] > 0
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the worker never started delivering")
        assert sandbox.sandbox.posts_on("telegram") == []  # still in flight
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 0, (b"".join(started) + output).decode()

    posted = sandbox.sandbox.posts_on("telegram")
    assert len(posted) >= 1  # the call caught in flight was finished, not abandoned
    assert (await redis.xpending(deliveries, "deliver"))["pending"] == 0
    for stream, group in [(f"{prefix}:items", "fanout"), (deliveries, "deliver")]:
        assert await redis.xinfo_consumers(stream, group) == []
    states = [
        await redis.hget(f"{prefix}:ledger:drain-{number}/{agency}/telegram/publish", "state")
        for number, agency in enumerate(AGENCIES)
    ]
    # Each delivery is posted, or was never taken (still unread, for the next worker): none in between.
    [group] = [g for g in await redis.xinfo_groups(deliveries) if g["name"] == b"deliver"]
    unread = len(await redis.xrange(deliveries, min=f"({group['last-delivered-id'].decode()}", max="+"))
    assert sorted(s for s in states if s is not None) == [b"posted"] * len(posted)
    assert len(posted) + unread == len(AGENCIES)
