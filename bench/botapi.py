"""Phase "botapi": Hamafza's aiohttp Bot-API client against the python-telegram-bot path it replaced,
both in one run, each in its own process, against the same sandbox Telegram fake answering after
200 ms (its own process; the fake's flood limit lifted). A delivery is one `publish` of a ~260-byte
Persian text through the adapter, over real HTTP, answered with the Bot API's Message.

Each path runs `rounds` times, alternating, and its best round counts (the machine is shared; the
best round is the one least disturbed). Figures: deliveries/s of the process, and its CPU per
delivery; the ratios are the new client's against the reference of the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import Child

PATHS = ("ptb", "aiohttp")
TARGET_RATIO = 3.0


async def compare(
    latency_ms: float,
    concurrency: int,
    warmup: float,
    window: float,
    rounds: int,
    report: Callable[[str], None],
) -> dict[str, Any]:
    sandbox = await Child.start("sandbox-botapi", "-m", "bench.sandbox_proc", "--latency-ms", str(latency_ms))
    runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
    try:
        api = (await sandbox.read(60))["url"] + "/telegram"
        for round_number in range(rounds):
            for path in PATHS:
                report(
                    f"  botapi {path} round {round_number + 1}: {warmup + window:.0f}s, {concurrency} in flight …"
                )
                child = await Child.start(
                    f"botapi-{path}",
                    "-m", "bench.botapi_client", "--path", path, "--api", api,
                    "--concurrency", str(concurrency), "--warmup", str(warmup), "--window", str(window),
                )  # fmt: skip
                try:
                    result = await child.read(120 + warmup + window)
                finally:
                    await child.close()
                result["sandbox_cpu_seconds"] = sandbox.cpu_seconds()
                runs[path].append(result)
    finally:
        await sandbox.close()
    best = {path: max(results, key=lambda r: r["per_s"]) for path, results in runs.items()}
    new, reference = best["aiohttp"], best["ptb"]
    return {
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "reference": reference,
        "new": new,
        "runs": runs,
        "throughput_ratio": new["per_s"] / reference["per_s"] if reference["per_s"] else None,
        "cpu_ratio": (
            reference["cpu_us_per_delivery"] / new["cpu_us_per_delivery"]
            if new["cpu_us_per_delivery"]
            else None
        ),
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The phase's flat figures for the final JSON line."""
    return {
        "botapi_aiohttp_per_s": result["new"]["per_s"],
        "botapi_ptb_per_s": result["reference"]["per_s"],
        "botapi_aiohttp_cpu_us_per_delivery": result["new"]["cpu_us_per_delivery"],
        "botapi_ptb_cpu_us_per_delivery": result["reference"]["cpu_us_per_delivery"],
        "botapi_throughput_ratio": result["throughput_ratio"],
        "botapi_cpu_ratio": result["cpu_ratio"],
    }
