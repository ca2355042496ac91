"""Phase "botapi": Hamafza's aiohttp Bot-API client against the python-telegram-bot path it replaced,
both in one run, each in its own process, against the same Bot API fake answering after 200 ms
(`sandbox/botapi_lean.py` in its own process: it records nothing, so its CPU is not what is measured). A delivery is one `publish` of a ~260-byte
Persian text through the adapter, over real HTTP, answered with the Bot API's Message.

Levels: 1,000 calls in flight (enough for either client to use a whole core at 200 ms: the
process' capacity) and 200 (where the former pipeline ran it: httpx's pool costs less there). Each path
runs `rounds` times, alternating, and its best round counts (the machine is shared; the
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
    levels: tuple[int, ...],
    warmup: float,
    window: float,
    rounds: int,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """Both paths at each number of calls in flight; the first level (enough to saturate a core) gives
    the phase's figures, the others show how CPU per delivery depends on it."""
    sandbox = await Child.start(
        "sandbox-botapi", "-m", "sandbox.botapi_lean", "--latency-ms", str(latency_ms)
    )
    by_level: dict[int, dict[str, Any]] = {}
    try:
        api = (await sandbox.read(60))["url"]
        for concurrency in levels:
            runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
            for round_number in range(rounds):
                for path in PATHS:
                    report(
                        f"  botapi {path} round {round_number + 1}: {warmup + window:.0f}s, {concurrency} in flight …"
                    )
                    runs[path].append(await one_run(api, path, concurrency, warmup, window))
            by_level[concurrency] = summary(runs, concurrency)
    finally:
        await sandbox.close()
    return {"latency_ms": latency_ms, **by_level[levels[0]], "levels": by_level}


async def one_run(api: str, path: str, concurrency: int, warmup: float, window: float) -> dict[str, Any]:
    child = await Child.start(
        f"botapi-{path}",
        "-m", "bench.botapi_client", "--path", path, "--api", api,
        "--concurrency", str(concurrency), "--warmup", str(warmup), "--window", str(window),
    )  # fmt: skip
    try:
        return await child.read(120 + warmup + window)
    finally:
        await child.close()


def summary(runs: dict[str, list[dict[str, Any]]], concurrency: int) -> dict[str, Any]:
    best = {path: max(results, key=lambda r: r["per_s"]) for path, results in runs.items()}
    new, reference = best["aiohttp"], best["ptb"]
    return {
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
        **{
            f"botapi_cpu_ratio_at_{level}_in_flight": detail["cpu_ratio"]
            for level, detail in result["levels"].items()
        },
    }
