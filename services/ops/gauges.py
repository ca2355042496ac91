"""Gauges read from Redis at scrape time: stream length, lag and pending per group; paused accounts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.asyncio import Redis

from services.keys import Keys
from services.ops import janitor
from services.ops.metrics import GaugeSource, Metrics
from services.runtime import text


def streams_source(redis: Redis, keys: Keys, platforms: list[str]) -> GaugeSource:
    streams = [*janitor.work_streams(keys, sorted(platforms)), keys.results]

    async def refresh(metrics: Metrics) -> None:
        for stats in await janitor.group_stats(redis, streams):
            metrics.stream_length.labels(stats.stream).set(stats.length)
            metrics.stream_lag.labels(stats.stream, stats.group).set(stats.unread)
            metrics.stream_pending.labels(stats.stream, stats.group).set(stats.pending)

    return refresh


async def paused_accounts(redis: Redis, keys: Keys) -> list[tuple[str, str, int, str]]:
    """(platform, agency, until epoch ms, reason) of every paused account; reason `rate_limit`,
    `auth`, or `unknown` for a pause set before reasons were recorded."""
    found: list[tuple[str, str]] = []
    async for key in redis.scan_iter(match=keys.pause("*", "*"), count=1000):
        _, platform, agency = text(key).rsplit(":", 2)
        found.append((platform, agency))
    if not found:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for platform, agency in found:
            pipe.get(keys.pause(platform, agency))
            pipe.get(keys.pause_reason(platform, agency))
        replies = await pipe.execute()
    rows = []
    for index, (platform, agency) in enumerate(found):
        until, reason = replies[2 * index], replies[2 * index + 1]
        if until is None:
            continue  # expired between SCAN and GET
        rows.append((platform, agency, int(until), text(reason) if reason else "unknown"))
    return sorted(rows)


def paused_source(redis: Redis, keys: Keys) -> GaugeSource:
    seen: set[tuple[str, str]] = set()

    async def refresh(metrics: Metrics) -> None:
        counts = Counter((platform, reason) for platform, _, _, reason in await paused_accounts(redis, keys))
        for labels in seen - set(counts):
            metrics.paused_accounts.labels(*labels).set(0)
        for labels, count in counts.items():
            metrics.paused_accounts.labels(*labels).set(count)
        seen.update(counts)

    return refresh


def approvals_source(redis: Redis, keys: Keys, limit: int = 10_000) -> GaugeSource:
    """Approvals still waiting for a decision (the expiry index holds exactly those), per partner."""
    seen: set[str] = set()

    async def refresh(metrics: Metrics) -> None:
        ids: Any = await redis.zrange(keys.approvals_expiring, 0, limit - 1)
        partners: list[Any] = []
        if ids:
            async with redis.pipeline(transaction=False) as pipe:
                for approval_id in ids:
                    pipe.hget(keys.approval(text(approval_id)), "partner")
                partners = await pipe.execute()
        counts = Counter(text(partner) for partner in partners if partner)
        for agency in seen - set(counts):
            metrics.approvals_pending.labels(agency).set(0)
        for agency, count in counts.items():
            metrics.approvals_pending.labels(agency).set(count)
        seen.update(counts)

    return refresh
