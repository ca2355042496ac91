"""One Redis round trip for the writes of many concurrent tasks.

Every delivery's claim and outcome are their own atomic unit (a Lua script, a MULTI), but tasks of
one batch reach them at nearly the same moment; sending them one round trip each made Redis
round trips most of a worker's CPU time. A `Coalescer` collects the units that arrive while a flush
is pending and sends them in one pipeline, then hands each task its own replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

Fill = Callable[[Pipeline], object]  # what it returns is ignored: replies come from the flush


class NotReplicated(Exception):
    """WAIT said the flush's writes did not reach enough replicas in time."""


class Coalescer:
    """Batches pipeline fills from concurrent tasks; `transaction=True` wraps a flush in MULTI/EXEC.

    With MULTI, a flush is all-or-nothing for Redis, which is at least as strong as each unit's own
    MULTI was; each caller still sees only its own replies and errors.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        transaction: bool,
        max_units: int = 500,
        wait_replicas: tuple[int, int] | None = None,
    ) -> None:
        self.redis = redis
        self.transaction = transaction
        self.max_units = max_units
        # (replicas, timeout ms): end every flush with one WAIT, and fail all its units when fewer
        # replicas than asked acknowledged the writes (a Sentinel failover could lose them).
        self.wait_replicas = wait_replicas if wait_replicas and wait_replicas[0] > 0 else None
        self._pending: list[tuple[Fill, asyncio.Future[list[Any]]]] = []
        self._flush_scheduled = False

    async def run(self, fill: Fill) -> list[Any]:
        """Queue `fill` (which adds commands to a pipeline) and return the replies to its commands."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((fill, future))
        if len(self._pending) >= self.max_units:
            await self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            # After the tasks that are ready now have had their turn, so their units join this flush.
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        spans: list[tuple[int, int]] = []
        try:
            async with self.redis.pipeline(transaction=self.transaction) as pipe:
                for fill, _ in batch:
                    start = len(pipe.command_stack)
                    fill(pipe)
                    spans.append((start, len(pipe.command_stack)))
                if self.wait_replicas is not None:
                    pipe.execute_command("WAIT", *self.wait_replicas)
                replies = await pipe.execute(raise_on_error=False)
            if self.wait_replicas is not None:
                acknowledged = replies[-1]
                wanted, timeout = self.wait_replicas
                if isinstance(acknowledged, Exception) or int(acknowledged) < wanted:
                    raise NotReplicated(
                        f"{acknowledged} of {wanted} replicas acknowledged within {timeout} ms"
                    )
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (start, end), (_, future) in zip(spans, batch, strict=True):
            own = replies[start:end]
            failure = next((reply for reply in own if isinstance(reply, Exception)), None)
            if future.done():
                continue
            if failure is not None:
                future.set_exception(failure)
            else:
                future.set_result(own)
