"""A periodic task: one step every interval until stopped, beside a service's stream consumers.

A failed step is logged and the loop goes on: the next step retries, and nothing is lost, because
every step's state lives in Redis. Stopping waits for the step in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from services.logs import get_logger
from services.ops.connection import watch


class Periodic:
    def __init__(
        self,
        name: str,
        interval_seconds: float,
        step: Callable[[], Awaitable[object]],
        failure_event: str | None = None,
    ) -> None:
        self.name = name
        self.failure_event = failure_event or f"{name}.step_failed"
        self.interval_seconds = interval_seconds
        self.step = step
        self.log = get_logger(f"hamafza.{name}")
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.step()
            except Exception as error:
                if not watch.swallow(error):  # a lost Redis is reported once, not every step
                    self.log.exception(self.failure_event)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_seconds)

    async def start(self) -> None:
        # async, so that FastStream's startup hook runs it in the event loop, not in a thread
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"hamafza-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
