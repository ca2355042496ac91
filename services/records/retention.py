"""Redis keeps work in flight only: what the recorder has recorded goes after the retention.

- The record streams (`results`, `dead`, `reach`) are trimmed below the oldest entry some group has
  not finished (the recorder's group among them) and below now minus the retention.
- The item index loses items older than the retention; tracked reach posts go once their last
  snapshot is due and the retention has passed.
- Ledger and item hashes need no sweep: the recorder gives them a time to live when it records them.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.keys import Keys, ReachKeys
from services.logs import get_logger
from services.ops import janitor
from services.ops.periodic import Periodic
from services.records.recorder import GROUP
from services.runtime import Runtime, epoch_ms, now

log = get_logger("hamafza.retention")


def record_streams(keys: Keys) -> list[str]:
    return [keys.results, keys.dead, ReachKeys(keys.prefix).snapshots, keys.approvals_events]


async def _recorded_by_recorder(redis: Redis, stream: str) -> bool:
    groups: Any = await redis.xinfo_groups(stream)
    names = {info["name"].decode() if isinstance(info["name"], bytes) else info["name"] for info in groups}
    return GROUP in names


async def sweep(redis: Redis, keys: Keys, retention_ms: int, reach_window_ms: int) -> dict[str, int]:
    """One pass; returns how many entries or keys went, by kind."""
    gone: dict[str, int] = {}
    for stream in record_streams(keys):
        # Without a recorder nothing is in the database yet: nothing may go.
        if await redis.exists(stream) and await _recorded_by_recorder(redis, stream):
            gone[stream] = await janitor.trim(redis, stream, retention_ms)
    cutoff = epoch_ms(now()) - retention_ms
    gone["items_index"] = int(await redis.zremrangebyscore(keys.item_index, "-inf", cutoff))
    reach = ReachKeys(keys.prefix)
    posts_key = reach.posts
    old: Any = await redis.zrangebyscore(posts_key, "-inf", cutoff - reach_window_ms, start=0, num=1000)
    if old:
        async with redis.pipeline(transaction=False) as pipe:
            for member in old:
                pipe.delete(reach.post(member.decode()))
            pipe.zrem(posts_key, *old)
            await pipe.execute()
    gone["reach_posts"] = len(old)
    if any(gone.values()):
        log.info("retention.swept", **{k.rsplit(":", 1)[-1]: v for k, v in gone.items()})
    return gone


class Retention(Periodic):
    """The sweep as a periodic task (it runs where the scheduler runs, beside the janitor)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            "retention", runtime.settings.janitor_interval_seconds, self.step, "retention.sweep_failed"
        )
        self.runtime = runtime

    async def step(self) -> None:
        from services.reach.snapshots import ReachSettings

        window_ms = int(ReachSettings.from_env().window_seconds * 1000)
        await sweep(self.runtime.redis, self.runtime.keys, self.runtime.record_retention_ms, window_ms)
