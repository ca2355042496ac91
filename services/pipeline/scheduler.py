"""The scheduler: releases delayed work (publish_at, retries, partners' delays, reach snapshots) when due.

It releases a list of schedules (`Keys.schedules`, one `Schedule` per sorted set); each release is one
Lua script, so any number of schedulers may run side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.logs import get_logger
from services.ops.periodic import Periodic
from services.pipeline.schedule import RELEASE_BATCH, Schedule
from services.runtime import Runtime

log = get_logger("hamafza.scheduler")


class Scheduler(Periodic):
    def __init__(self, runtime: Runtime, schedules: Sequence[Schedule] | None = None) -> None:
        super().__init__(
            "scheduler",
            runtime.settings.scheduler_interval_seconds,
            self.release_all,
            "scheduler.tick_failed",
        )
        self.runtime = runtime
        self.schedules = (
            list(schedules) if schedules is not None else [Schedule(key) for key in runtime.keys.schedules]
        )

    async def tick(self) -> int:
        """One release of every schedule; returns how many entries went onto their streams."""
        released = 0
        for schedule in self.schedules:
            count = await schedule.release_due(self.runtime.redis, self.runtime.keys.dead)
            if count:
                log.info("scheduler.released", schedule=schedule.key, count=count)
            released += count
        return released

    async def release_all(self) -> None:
        """Release until nothing more is due (a full batch means there may be more)."""
        while await self.tick() >= RELEASE_BATCH:
            pass
