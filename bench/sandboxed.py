"""The pipeline against the sandbox over HTTP with 200 ms platform latency: deliveries/s per worker
process and deliveries in flight, with the real Telegram adapter (python-telegram-bot, httpx)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from bench.common import Child, xlens
from bench.pipeline import Feeder, wait_idle
from services.keys import Keys

AGENCIES = 50  # distinct bots and channels


async def sandbox_http(
    url: str,
    base: str,
    configs: list[tuple[str, int | None, int | None]],
    warmup: float,
    window: float,
    latency_ms: float,
    report: Any,
) -> dict[str, Any]:
    sandbox = await Child.start("sandbox", "-m", "bench.sandbox_proc", "--latency-ms", str(latency_ms))
    out: dict[str, Any] = {"latency_ms": latency_ms}
    redis = Redis.from_url(url)
    try:
        api = (await sandbox.read(60))["url"] + "/telegram"
        for label, batch_size, max_in_flight in configs:
            prefix = f"{base}:sbx-{label}"
            keys = Keys(prefix)
            extra = ["--kind", "telegram", "--platforms", "1", "--api-base", api]
            if batch_size:
                extra += ["--batch-size", str(batch_size)]
            if max_in_flight:
                extra += ["--max-in-flight", str(max_in_flight)]
            worker = await Child.start(
                f"worker-sandbox-{label}",
                "-m", "bench.worker", "--redis-url", url, "--prefix", prefix,
                "--agencies", str(AGENCIES), *extra,
            )  # fmt: skip
            try:
                ready = await worker.read(120)
                report(
                    f"  sandbox {label} {ready['settings']}: {warmup + window:.0f}s at {latency_ms:.0f} ms …"
                )
                feeder = Feeder(redis, worker, keys.items, 1, "S", AGENCIES)
                feeding = asyncio.get_running_loop().create_task(
                    feeder.until(10**9, backlog_items=6000, chunk=2000)
                )
                await asyncio.sleep(warmup)
                s0 = await worker.ask({"cmd": "stats"})
                sbx0 = sandbox.cpu_seconds()
                await worker.ask({"cmd": "sample_start"})
                await asyncio.sleep(window)
                flight = await worker.ask({"cmd": "sample_stop"})
                s1 = await worker.ask({"cmd": "stats"})
                seconds = s1["mono"] - s0["mono"]
                feeder.stopped = True
                await feeding
                per_s = (s1["calls"] - s0["calls"]) / seconds
                out[label] = {
                    "settings": ready["settings"],
                    "worker_errors": s1["errors"],
                    "per_s": per_s,
                    "in_flight_mean": flight["mean"],
                    "in_flight_peak": flight["peak"],
                    "worker_cpu_utilisation": (s1["cpu"] - s0["cpu"]) / seconds,
                    "sandbox_cpu_utilisation": (sandbox.cpu_seconds() - sbx0) / seconds,
                    "cpu_us_per_delivery": (s1["cpu"] - s0["cpu"]) / max(1, s1["calls"] - s0["calls"]) * 1e6,
                    # Little's law: calls in flight / latency is the rate concurrency alone allows.
                    "concurrency_bound_per_s": flight["mean"] / (latency_ms / 1000),
                }
                await worker.ask({"cmd": "stop"}, timeout=120)
                out[label]["dead"] = (await xlens(redis, {"dead": keys.dead}))["dead"]
            finally:
                await worker.close()
    finally:
        await redis.aclose()
        await sandbox.close()
    return out


__all__ = ["sandbox_http", "wait_idle"]
