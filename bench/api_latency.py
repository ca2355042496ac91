"""`python -m bench.api_latency [--quick]`: the API's latency under the workers' load, both ways in one run.

- reference: `hamafza run api` and `hamafza run workers` as two processes;
- measured: `hamafza run all` (which now starts the API as its own process).

In both, the workers chew through a preloaded backlog of items (Telegram fake over HTTP, every agency
amplifying the others) while a client POSTs items to `/v1/items` at a fixed rate and times each answer.
Target: the measured p99 within 2× of the reference p99. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from redis.asyncio import Redis

from bench.common import cleanup, percentile
from sandbox import RunningSandbox, serve
from sandbox.telegram import TelegramFake
from services.ingress.tokens import new_token, token_sha256
from services.ops.embedded_redis import redis_url

AGENCIES = [f"bench-agency-{n}" for n in range(4)]


def network(sandbox: RunningSandbox, token: str) -> dict[str, Any]:
    return {
        "platforms": {"telegram": {"api_base": sandbox.api_base("telegram"), "rate_limit": "none"}},
        "agencies": {
            name: {
                "name": f"اداره آزمایشی {index}",
                "accounts": {
                    "telegram": {
                        "bot_token": f"{5001 + index}:AAbench{index}TokenXXXXXXXXXX",
                        "chat_id": f"@b{index}",
                    }
                },
                **({"ingest": {"api_token_sha256": token_sha256(token)}} if index == 0 else {}),
            }
            for index, name in enumerate(AGENCIES)
        },
        "networks": {
            "bench": {"members": AGENCIES, "amplify": {"telegram": "forward"}, "delay_seconds": [0, 1]}
        },
    }


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


async def load(base: str, token: str, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def one(session: aiohttp.ClientSession, number: int) -> None:
        body = {"text": f"خبر بار آزمایی شماره {number}", "amplify": False}
        started = time.perf_counter()
        async with session.post(f"{base}/v1/items", json=body, headers=headers) as response:
            await response.read()
            if response.status >= 300:
                raise RuntimeError(f"POST /v1/items answered {response.status}")
        latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        tasks = []
        started = time.monotonic()
        for number in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(session, number)))
        await asyncio.gather(*tasks)
    return latencies


async def case(
    name: str,
    commands: list[list[str]],
    url: str,
    sandbox: RunningSandbox,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    prefix = f"hamafza-bench-api-{uuid.uuid4().hex[:8]}"
    token = new_token()
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(network(sandbox, token), allow_unicode=True), "utf-8")
    redis = Redis.from_url(url)
    for number in range(args.backlog):  # the workers' load: a backlog they work through meanwhile
        item = {
            "id": f"{prefix}-{number}",
            "agency": AGENCIES[number % len(AGENCIES)],
            "text": f"خبر {number}",
        }
        await redis.xadd(f"{prefix}:items", {"data": json.dumps(item, ensure_ascii=False)})
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "HAMAFZA_LOG_FORMAT": "json", "HAMAFZA_LOG_LEVEL": "WARNING"}
    processes = []
    for command in commands:
        full = [sys.executable, "-m", "services", *command, "--config", str(config), "--redis-url", url]
        full += ["--prefix", prefix, "--port", str(port)]
        processes.append(
            await asyncio.create_subprocess_exec(
                *full, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
        )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        await load(f"http://127.0.0.1:{port}", token, 10.0, 1.0)  # warm-up: imports, connections
        latencies = await load(f"http://127.0.0.1:{port}", token, args.rate, args.seconds)
        backlog_left = int(await redis.xlen(f"{prefix}:deliveries:telegram"))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=90)
        await cleanup(redis, prefix)
        await redis.aclose()
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "delivery_stream_length_at_end": backlog_left,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with redis_url() as url:
        sandbox = await serve(platforms=["telegram"])
        telegram = sandbox.sandbox.fakes["telegram"]
        assert isinstance(telegram, TelegramFake)
        telegram.flood_limit_per_minute = None
        workdir = Path(tempfile.mkdtemp(prefix="hamafza-bench-api-"))
        try:
            reference = await case(
                "reference", [["run", "api"], ["run", "workers"]], url, sandbox, args, workdir
            )
            measured = await case("run-all", [["run", "all"]], url, sandbox, args, workdir)
        finally:
            await sandbox.stop()
    ratio = measured["p99_ms"] / reference["p99_ms"] if reference["p99_ms"] else None
    return {
        "reference_run_api": reference,
        "run_all": measured,
        "p99_ratio": round(ratio, 2) if ratio is not None else None,
        "target_ratio": 2.0,
        "met": ratio is not None and ratio <= 2.0,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "backlog_items": args.backlog,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="POST /v1/items per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=3000, help="items preloaded for the workers")
    parser.add_argument("--quick", action="store_true", help="5 s at 40/s over 800 items")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.seconds, args.backlog = 40.0, 5.0, 800
    report = asyncio.run(main_async(args))
    for name in ("reference_run_api", "run_all"):
        row = report[name]
        print(
            f"{name:18} p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  ({row['requests']} requests)"
        )
    print(
        f"p99 ratio (run all / run api): {report['p99_ratio']}  target ≤ 2: {'met' if report['met'] else 'missed'}"
    )
    print(json.dumps(report))
    return 0 if report["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
