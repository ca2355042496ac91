"""A Hamafza worker process for the benchmark: every service (`hamafza run all`) with bench adapters,
driven over stdin/stdout, one JSON object per line.

    python -m bench.worker --redis-url URL --prefix P --kind memory|telegram [--api-base URL] [--marks 100,1000]

Logs are configured as in production (JSON lines at INFO, redaction included) and written to
/dev/null, so their cost is measured but the protocol owns stdout.

Commands: stats · mark {n} · wait {n} · latency_start · latency_stop · sample_start · sample_stop ·
idle · profile_start · profile_stop {path} · stop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import sys
import time
from typing import Any

from bench.adapters import STATS, registry
from bench.common import percentile
from services.app import SERVICES, build_runtime, build_workers
from services.config import Network, parse_network
from services.logs import configure
from services.ops.status import outstanding_work
from services.runtime import Settings, run_async

try:
    from schemas.network import PlatformSettings

    _HAS_RATE_LIMIT = "rate_limit" in PlatformSettings.model_fields
except ImportError:  # pragma: no cover
    _HAS_RATE_LIMIT = False

# The core pipeline: items → fanout → deliver → results → amplify (→ scheduler → deliver).
CORE = ("fanout", "deliver", "amplify", "scheduler")


def network(
    kind: str, platforms: list[str], agencies: int, group: int, api_base: str | None, rate_limit: str | None
) -> Network:
    """`agencies` agencies with an account on every platform, in networks of `group` partners that
    amplify each other at once (delay 0, so amplification throughput is measurable). Every account's
    write budget is `rate_limit`: high enough never to throttle, so the limiter's cost is measured
    without its waits."""
    names = [f"a{i:03d}" for i in range(agencies)]
    document: dict[str, Any] = {"agencies": {}, "networks": {}}
    for index, name in enumerate(names):
        accounts: dict[str, Any] = {}
        for platform in platforms:
            if kind == "memory":
                accounts[platform] = {"handle": name, "token": f"secret-{platform}-{name}-0123456789"}
            else:
                accounts[platform] = {
                    "bot_token": f"{700000 + index}:AAbench{index:05d}secretsecretsecret",
                    "chat_id": f"@bench_{name}",
                }
        document["agencies"][name] = {"name": f"اداره {name}", "accounts": accounts}
    for start in range(0, agencies - group + 1, group):
        document["networks"][f"n{start:03d}"] = {
            "members": names[start : start + group],
            "amplify": {platform: "forward" for platform in platforms},
            "delay_seconds": [0, 0],
        }
    document["platforms"] = {p: {} for p in platforms}
    for p in platforms:
        if api_base:
            document["platforms"][p].update(api_base=api_base, timeout_seconds=20)
        if _HAS_RATE_LIMIT and rate_limit:  # "none" turns an adapter's own limit off
            document["platforms"][p]["rate_limit"] = rate_limit
    return parse_network(document, registry(kind, len(platforms)))


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


ERRORS = ErrorCount()


class Driver:
    def __init__(self, args: argparse.Namespace, out: Any) -> None:
        self.args = args
        self.out = out
        self.workers: Any = None
        self.sampling: asyncio.Task[None] | None = None
        self.samples: list[int] = []
        self.profiler: cProfile.Profile | None = None
        self.redis_cpu_at: dict[int, asyncio.Task[float]] = {}

    def reply(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload) + "\n")
        self.out.flush()

    def on_mark(self, n: int) -> None:
        async def read_cpu() -> float:
            info: Any = await self.workers.runtime.redis.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        self.redis_cpu_at[n] = asyncio.get_running_loop().create_task(read_cpu())

    async def start(self) -> None:
        args = self.args
        reg = registry(args.kind, args.platforms)
        platforms = list(reg)
        net = network(args.kind, platforms, args.agencies, args.group, args.api_base, args.rate_limit)
        settings = Settings.from_env(
            prefix=args.prefix, batch_size=args.batch_size, max_in_flight=args.max_in_flight
        )
        runtime = build_runtime(net, args.redis_url, settings, reg)
        services = [s for s in args.services.split(",") if s in SERVICES]
        self.workers = build_workers(runtime, services)
        STATS.on_mark = self.on_mark
        for n in args.marks:
            STATS.marks[n] = asyncio.Event()
        await self.workers.start()
        self.reply(
            {
                "event": "ready",
                "pid": os.getpid(),
                "platforms": platforms,
                "services": services,
                "rate_limit": args.rate_limit if _HAS_RATE_LIMIT else None,
                "settings": {"batch_size": settings.batch_size, "max_in_flight": settings.max_in_flight},
            }
        )

    async def sample(self) -> None:
        while True:
            self.samples.append(STATS.in_flight)
            await asyncio.sleep(0.01)

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        name = command["cmd"]
        if name == "stats":
            return {
                "calls": STATS.calls,
                "errors": ERRORS.count,
                "in_flight": STATS.in_flight,
                "cpu": time.process_time(),
                "mono": time.monotonic(),
            }
        if name == "mark":
            STATS.marks.setdefault(int(command["n"]), asyncio.Event())
            return {"ok": True, "calls": STATS.calls}
        if name == "wait":
            n = int(command["n"])
            event = STATS.marks.setdefault(n, asyncio.Event())
            await event.wait()
            task = self.redis_cpu_at.get(n)
            return {**STATS.reached[n], "redis_cpu": (await task) if task else None}
        if name == "latency_start":
            STATS.latencies_ms.clear()
            STATS.recording = True
            return {"ok": True}
        if name == "latency_stop":
            STATS.recording = False
            values = list(STATS.latencies_ms)
            STATS.latencies_ms.clear()
            return {
                "n": len(values),
                "p50_ms": percentile(values, 0.50),
                "p90_ms": percentile(values, 0.90),
                "p99_ms": percentile(values, 0.99),
                "max_ms": max(values, default=float("nan")),
            }
        if name == "sample_start":
            self.samples.clear()
            STATS.peak_in_flight = STATS.in_flight
            self.sampling = asyncio.get_running_loop().create_task(self.sample())
            return {"ok": True}
        if name == "sample_stop":
            if self.sampling is not None:
                self.sampling.cancel()
            samples = self.samples or [0]
            return {"mean": sum(samples) / len(samples), "peak": STATS.peak_in_flight, "n": len(samples)}
        if name == "idle":
            runtime = self.workers.runtime
            return await outstanding_work(runtime.redis, runtime.keys, self.workers.streams)
        if name == "profile_start":
            self.profiler = cProfile.Profile()
            self.profiler.enable()
            return {"ok": True}
        if name == "profile_stop":
            assert self.profiler is not None
            self.profiler.disable()
            self.profiler.dump_stats(command["path"])
            return {"ok": True}
        if name == "stop":
            await self.workers.stop()
            return {"ok": True, "stopped": True}
        return {"error": f"unknown command {name!r}"}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                await self.workers.stop()
                return
            reply = await self.handle(json.loads(line))
            self.reply(reply)
            if reply.get("stopped"):
                return


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--kind", choices=["memory", "telegram"], default="memory")
    parser.add_argument("--platforms", type=int, default=3)
    parser.add_argument("--agencies", type=int, default=30)
    parser.add_argument("--group", type=int, default=3)
    parser.add_argument("--api-base")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-in-flight", type=int)
    parser.add_argument("--marks", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--services", default=",".join(CORE))
    # "none" bypasses services.budget (see bench/README.md); e.g. 1000000/minute measures its cost.
    parser.add_argument("--rate-limit", default=os.environ.get("BENCH_RATE_LIMIT", "none"))
    args = parser.parse_args()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115, ASYNC230 - the logs' sink, for the process's lifetime
    configure("json", args.log_level)
    # Warnings and errors also go to stderr (bench/results/logs/<worker>.stderr), to be read.
    root = logging.getLogger()
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    problems.setFormatter(root.handlers[0].formatter)
    root.addHandler(problems)
    root.addHandler(ERRORS)
    driver = Driver(args, out)
    await driver.start()
    await driver.serve()


if __name__ == "__main__":
    run_async(main())
