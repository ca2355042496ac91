"""Stream hygiene: trimming keeps everything some group still needs; stale consumers go."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.ops import janitor


async def test_trim_keeps_pending_and_unread_entries(redis: Redis, prefix: str) -> None:
    stream = f"{prefix}:work"
    ids = [(await redis.xadd(stream, {"data": str(n)})).decode() for n in range(10)]
    await redis.xgroup_create(stream, "fast", id="0")
    await redis.xgroup_create(stream, "slow", id="0")
    await redis.xreadgroup("fast", "c1", {stream: ">"}, count=10)
    await redis.xack(stream, "fast", *ids)
    await redis.xreadgroup("slow", "c2", {stream: ">"}, count=6)
    await redis.xack(stream, "slow", *ids[:2], ids[3])  # ids[2] stays pending, ids[6:] are unread

    await asyncio.sleep(0.01)  # the retention cutoff has millisecond resolution
    assert await janitor.trim(redis, stream, retention_ms=0) == 2
    remaining = [entry_id.decode() for entry_id, _ in await redis.xrange(stream)]
    assert remaining == ids[2:]


async def test_trim_respects_the_retention_window(redis: Redis, prefix: str) -> None:
    stream = f"{prefix}:work"
    ids = [(await redis.xadd(stream, {"data": str(n)})).decode() for n in range(3)]
    await redis.xgroup_create(stream, "g", id="0")
    await redis.xreadgroup("g", "c", {stream: ">"}, count=3)
    await redis.xack(stream, "g", *ids)
    assert await janitor.trim(redis, stream, retention_ms=3_600_000) == 0
    await asyncio.sleep(0.01)
    assert await janitor.trim(redis, stream, retention_ms=0) == 3


async def test_a_stream_without_groups_is_never_trimmed(redis: Redis, prefix: str) -> None:
    stream = f"{prefix}:records"
    await redis.xadd(stream, {"data": "1"})
    assert await janitor.trim(redis, stream, retention_ms=0) == 0


async def test_stale_consumers_go_only_when_nothing_is_pending(redis: Redis, prefix: str) -> None:
    stream = f"{prefix}:work"
    first = await redis.xadd(stream, {"data": "1"})
    await redis.xadd(stream, {"data": "2"})
    await redis.xgroup_create(stream, "g", id="0")
    await redis.xreadgroup("g", "idle-pod", {stream: ">"}, count=1)
    await redis.xack(stream, "g", first)  # an old pod that finished its work
    await redis.xreadgroup("g", "holds-work", {stream: ">"}, count=1)
    removed = await janitor.remove_stale_consumers(redis, stream, stale_ms=-1)
    assert removed == ["g/idle-pod"]
    names = [c["name"].decode() for c in await redis.xinfo_consumers(stream, "g")]
    assert names == ["holds-work"]


async def test_group_stats_show_length_pending_and_lag(redis: Redis, prefix: str) -> None:
    stream = f"{prefix}:work"
    for n in range(5):
        await redis.xadd(stream, {"data": str(n)})
    await redis.xgroup_create(stream, "g", id="0")
    await redis.xreadgroup("g", "c", {stream: ">"}, count=2)
    [stats] = await janitor.group_stats(redis, [stream])
    assert (stats.length, stats.pending, stats.unread, stats.consumers) == (5, 2, 3, 1)
