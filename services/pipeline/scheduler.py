"""The scheduler: releases delayed work (publish_at, retries, staggered amplification) when due.

Delayed entries live in a Redis sorted set, not in process timers, so they survive restarts; the
release is one Lua script, so any number of schedulers may run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.logs import get_logger
from services.ops import janitor
from services.pipeline.ledger import Ledger
from services.runtime import Runtime

log = get_logger("hamafza.scheduler")


class Scheduler:
    def __init__(self, runtime: Runtime, ledger: Ledger) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def tick(self) -> int:
        released = await self.ledger.release_due()
        if released:
            log.info("scheduler.released", count=released)
        return released

    async def run(self) -> None:
        settings = self.runtime.settings
        interval = settings.scheduler_interval_seconds
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                while await self.tick() >= 500:
                    pass
            except Exception:
                log.exception("scheduler.tick_failed")
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + settings.janitor_interval_seconds
                try:
                    await janitor.sweep(
                        self.runtime.redis,
                        self.runtime.keys,
                        sorted(self.runtime.adapters),
                        settings.work_retention_ms,
                        settings.stale_consumer_ms,
                    )
                except Exception:
                    log.exception("janitor.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    async def start(self) -> None:
        # async, so that FastStream's startup hook runs it in the event loop, not in a thread
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="hamafza-scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
