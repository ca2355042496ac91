"""The pipeline with the zero-latency adapter: throughput, CPU per delivery, latency, amplification,
memory. Each phase runs a fresh worker process (`bench.worker`) under its own key prefix."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bench.common import Child, redis_cpu, redis_memory, xlens
from bench.feed import paced, preload
from services.keys import Keys
from services.runtime import Settings

AGENCIES = 30
MEMORY_RETENTION_MS = 10_000
GROUP = 3  # partners per network: with amplification on, one item makes 3 deliveries per platform


def worker_args(url: str, prefix: str, *extra: str) -> list[str]:
    return ["-m", "bench.worker", "--redis-url", url, "--prefix", prefix, "--agencies", str(AGENCIES), *extra]


async def wait_idle(worker: Child, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if (await worker.ask({"cmd": "idle"}))["idle"]:
            await asyncio.sleep(0.3)
            if (await worker.ask({"cmd": "idle"}))["idle"]:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{worker.name} did not go idle within {timeout:.0f}s")


def stream_names(keys: Keys, platforms: list[str]) -> dict[str, str]:
    names = {"items": keys.items, "results": keys.results, "dead": keys.dead}
    names.update({f"deliveries:{p}": keys.deliveries(p) for p in platforms})
    return names


async def timed(worker: Child, first: int, last: int) -> dict[str, float]:
    """Deliveries/s and CPU per delivery between the `first`th and `last`th adapter call."""
    a = await worker.ask({"cmd": "wait", "n": first})
    b = await worker.ask({"cmd": "wait", "n": last})
    n = last - first
    seconds = b["mono"] - a["mono"]
    result = {
        "deliveries": n,
        "seconds": seconds,
        "per_s": n / seconds,
        "cpu_us_per_delivery": (b["cpu"] - a["cpu"]) / n * 1e6,
        "cpu_utilisation": (b["cpu"] - a["cpu"]) / seconds,
    }
    if a.get("redis_cpu") is not None and b.get("redis_cpu") is not None:
        result["redis_cpu_us_per_delivery"] = (b["redis_cpu"] - a["redis_cpu"]) / n * 1e6
    return result


@dataclass
class Sizes:
    items: int  # pre-loaded items for the throughput figure (×3 platforms deliveries)
    latency_seconds: float
    amplified_items: int
    memory_deliveries: int
    memory_warmup: int
    profile_items: int


FULL = Sizes(
    items=20_000,
    latency_seconds=10,
    amplified_items=4_000,
    memory_deliveries=200_000,
    memory_warmup=15_000,
    profile_items=6_000,
)
QUICK = Sizes(
    items=4_000,
    latency_seconds=4,
    amplified_items=1_000,
    memory_deliveries=30_000,
    memory_warmup=6_000,
    profile_items=2_000,
)


async def zero_latency(url: str, base: str, sizes: Sizes, report: Any) -> dict[str, Any]:  # noqa: PLR0915
    """Throughput (amplification off), latency at half the maximum and at 1,000/s, then throughput
    with amplification on, all on one worker process."""
    prefix = f"{base}:pipe"
    keys = Keys(prefix)
    redis = Redis.from_url(url)
    out: dict[str, Any] = {}
    try:
        await preload(redis, keys.items, "T", sizes.items, AGENCIES)
        platforms_n = 3
        total = sizes.items * platforms_n
        worker = await Child.start(
            "worker-pipeline", *worker_args(url, prefix, "--marks", f"{total // 10},{total}")
        )
        try:
            ready = await worker.read(120)
            platforms = ready["platforms"]
            out["settings"] = ready["settings"]
            out["services"] = ready["services"]
            out["rate_limit"] = ready["rate_limit"]
            out["platforms"] = len(platforms)
            report(f"  pipeline: draining {sizes.items} items × {len(platforms)} platforms …")
            out["throughput"] = await timed(worker, total // 10, total)
            await wait_idle(worker)
            lengths = await xlens(redis, stream_names(keys, platforms))
            if lengths["results"] != total or lengths["dead"] != 0:
                raise RuntimeError(f"pipeline lost or dead-lettered work: {lengths}")

            out["latency"] = {}
            best = out["throughput"]["per_s"]
            for label, deliveries_per_s in (("half_max", best / 2), ("at_1000", 1000.0)):
                stats = await worker.ask({"cmd": "stats"})
                items_per_s = deliveries_per_s / platforms_n
                expected = int(items_per_s * sizes.latency_seconds) * platforms_n
                await worker.ask({"cmd": "mark", "n": stats["calls"] + expected})
                await worker.ask({"cmd": "latency_start"})
                report(f"  latency: {deliveries_per_s:,.0f} deliveries/s for {sizes.latency_seconds}s …")
                cpu0 = worker.cpu_seconds()
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                await paced(redis, keys.items, items_per_s, sizes.latency_seconds, AGENCIES)
                await worker.ask({"cmd": "wait", "n": stats["calls"] + expected}, timeout=120)
                cpu_util = (worker.cpu_seconds() - cpu0) / (loop.time() - t0)
                lat = await worker.ask({"cmd": "latency_stop"})
                out["latency"][label] = {
                    "deliveries_per_s": deliveries_per_s,
                    "cpu_utilisation": cpu_util,
                    **lat,
                }
                await wait_idle(worker)

            stats = await worker.ask({"cmd": "stats"})
            expected = sizes.amplified_items * platforms_n * GROUP
            first, last = stats["calls"] + expected // 10, stats["calls"] + expected
            await worker.ask({"cmd": "mark", "n": first})
            await worker.ask({"cmd": "mark", "n": last})
            report(f"  amplification on: {sizes.amplified_items} items → {expected} deliveries …")
            await preload(redis, keys.items, "A", sizes.amplified_items, AGENCIES, amplify=True)
            out["amplified"] = await timed(worker, first, last)
            await wait_idle(worker)
            out["worker_errors"] = (await worker.ask({"cmd": "stats"}))["errors"]
            await worker.ask({"cmd": "stop"})
        finally:
            await worker.close()
    finally:
        await redis.aclose()
    return out


class Feeder:
    """Keeps a bounded backlog of items in front of a worker, as steady traffic would."""

    def __init__(self, redis: Redis, worker: Child, stream: str, platforms: int, tag: str, agencies: int):
        self.redis, self.worker, self.stream = redis, worker, stream
        self.platforms, self.tag, self.agencies = platforms, tag, agencies
        self.sent = 0
        self.stopped = False

    async def until(self, deliveries: int, backlog_items: int = 3000, chunk: int = 1000) -> dict[str, Any]:
        while True:
            stats = await self.worker.ask({"cmd": "stats"})
            if stats["calls"] >= deliveries or self.stopped:
                return stats
            needed = -(-deliveries // self.platforms)
            waiting = self.sent - stats["calls"] // self.platforms
            if self.sent < needed and waiting < backlog_items:
                n = min(chunk, needed - self.sent)
                await preload(self.redis, self.stream, self.tag, n, self.agencies, start=self.sent)
                self.sent += n
            else:
                await asyncio.sleep(0.05)


async def memory(url: str, base: str, sizes: Sizes, report: Any) -> dict[str, Any]:  # noqa: PLR0915
    """Worker RSS and Redis memory before and after `memory_deliveries` deliveries fed as steady
    traffic (a bounded backlog), and every stream's length along the way."""
    prefix = f"{base}:mem"
    keys = Keys(prefix)
    redis = Redis.from_url(url)
    out: dict[str, Any] = {}
    try:
        # The janitor (services/janitor.py, run by the scheduler) trims acknowledged entries older
        # than the retention (24 h by default): shortened here so boundedness shows within the run.
        fields = Settings.__dataclass_fields__
        env = {}
        if "work_retention_ms" in fields:
            env["HAMAFZA_WORK_RETENTION_MS"] = str(MEMORY_RETENTION_MS)
        if "janitor_interval_seconds" in fields:
            env["HAMAFZA_JANITOR_INTERVAL_SECONDS"] = "2.0"
        out["janitor_env"] = env
        worker = await Child.start("worker-memory", *worker_args(url, prefix), env=env)
        try:
            ready = await worker.read(120)
            platforms = ready["platforms"]
            names = stream_names(keys, platforms)
            feeder = Feeder(redis, worker, keys.items, len(platforms), "M", AGENCIES)
            out["rss_started"] = worker.rss()
            report(f"  memory: warm-up {sizes.memory_warmup} deliveries …")
            await feeder.until(sizes.memory_warmup)
            await wait_idle(worker)
            out["rss_before"] = worker.rss()
            mem0 = await redis_memory(redis)
            base_calls = (await worker.ask({"cmd": "stats"}))["calls"]
            out["streams_before"] = await xlens(redis, names)
            samples = []
            cpu0, rcpu0 = worker.cpu_seconds(), await redis_cpu(redis)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for quarter in (1, 2, 3, 4):
                target = base_calls + sizes.memory_deliveries * quarter // 4
                report(f"  memory: {target - base_calls:,} of {sizes.memory_deliveries:,} deliveries …")
                stats = await feeder.until(target)
                samples.append(
                    {
                        "deliveries": stats["calls"] - base_calls,
                        "rss": worker.rss(),
                        "streams": await xlens(redis, names),
                    }
                )
            seconds = loop.time() - t0
            await wait_idle(worker)
            done = (await worker.ask({"cmd": "stats"}))["calls"] - base_calls
            out["sustained"] = {
                "per_s": done / seconds,
                "cpu_us_per_delivery": (worker.cpu_seconds() - cpu0) / done * 1e6,
                "redis_cpu_us_per_delivery": (await redis_cpu(redis) - rcpu0) / done * 1e6,
            }
            out["rss_after"] = worker.rss()
            out["deliveries"] = done
            out["redis_bytes_per_delivery"] = (await redis_memory(redis) - mem0) / done
            out["streams_after"] = await xlens(redis, names)
            out["samples"] = samples
            out["worker_errors"] = (await worker.ask({"cmd": "stats"}))["errors"]
            await worker.ask({"cmd": "stop"})
        finally:
            await worker.close()
    finally:
        await redis.aclose()
    return out


async def profile(url: str, base: str, sizes: Sizes, path: str, report: Any) -> None:
    """cProfile of the worker between the 10% and 100% marks of a pre-loaded drain."""
    prefix = f"{base}:prof"
    keys = Keys(prefix)
    redis = Redis.from_url(url)
    try:
        await preload(redis, keys.items, "P", sizes.profile_items, AGENCIES)
        total = sizes.profile_items * 3
        worker = await Child.start(
            "worker-profile", *worker_args(url, prefix, "--marks", f"{total // 10},{total}")
        )
        try:
            await worker.read(120)
            report(f"  profile: {sizes.profile_items} items under cProfile …")
            await worker.ask({"cmd": "wait", "n": total // 10})
            await worker.ask({"cmd": "profile_start"})
            await worker.ask({"cmd": "wait", "n": total})
            await worker.ask({"cmd": "profile_stop", "path": path})
            await wait_idle(worker)
            await worker.ask({"cmd": "stop"})
        finally:
            await worker.close()
    finally:
        await redis.aclose()
