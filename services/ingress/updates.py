"""The accounts' update streams: one reader per bot, whichever process holds it.

A messenger bot has one stream of updates (channel posts, button presses…) and platforms refuse a
second concurrent reader (Telegram answers 409), so every process runs a reader for every bot, but
only the holder of the bot's lease in Redis reads; the others wait and take over when a holder dies.
The offset is stored after the events are handled, so a crash repeats events rather than losing them:
handlers are idempotent (an item id derived from the post; one decision per approval).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from adapters import DeliveryError
from services.logs import get_logger
from services.runtime import Runtime, text

log = get_logger("hamafza.updates")

# A handler gets the platform, the agencies whose accounts use the bot, and one event.
UpdateHandler = Callable[[str, tuple[str, ...], Any], Awaitable[None]]

# KEYS: lease.  ARGV: owner, lease ms.  Takes a free lease or renews our own; 1 if we hold it.
_HOLD = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: lease, offset.  ARGV: owner, offset.  Stores the offset only while we hold the lease.
_ADVANCE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class BotStream:
    platform: str
    source: str  # the adapter's non-secret key of the bot's stream
    agencies: tuple[str, ...]
    credentials: BaseModel


def bot_streams(runtime: Runtime) -> list[BotStream]:
    """Every distinct update stream among the network's accounts, with the agencies that use it."""
    grouped: dict[tuple[str, str], list[tuple[str, BaseModel]]] = {}
    for (agency, platform), account in sorted(runtime.network.accounts.items()):
        adapter = runtime.adapters.get(platform)
        if adapter is None:
            continue
        source = adapter.update_source(account.credentials)
        if source is not None:
            grouped.setdefault((platform, source), []).append((agency, account.credentials))
    return [
        BotStream(platform, source, tuple(agency for agency, _ in users), users[0][1])
        for (platform, source), users in grouped.items()
    ]


class UpdateReader:
    def __init__(
        self,
        runtime: Runtime,
        handlers: Sequence[UpdateHandler],
        poll_seconds: float = 20.0,
        lease_seconds: float = 60.0,
        idle_seconds: float = 2.0,
    ) -> None:
        self.runtime = runtime
        self.handlers = list(handlers)
        self.poll_seconds = poll_seconds
        self.lease_ms = int(max(lease_seconds, poll_seconds * 2 + 10) * 1000)
        self.idle_seconds = idle_seconds
        self.owner = f"{runtime.consumer}-{uuid.uuid4().hex[:8]}"
        self._hold = runtime.redis.register_script(_HOLD)
        self._advance = runtime.redis.register_script(_ADVANCE)
        self._release = runtime.redis.register_script(_RELEASE)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        for stream in bot_streams(self.runtime):
            self._tasks.append(asyncio.create_task(self._read(stream), name=f"updates-{stream.platform}"))

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()  # a long poll in progress ends now, not at its timeout
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        # Hand the bots over at once: a restarted or other process reads on without waiting out the lease.
        for stream in bot_streams(self.runtime):
            with contextlib.suppress(Exception):
                lease = self.runtime.keys.updates_lease(stream.platform, stream.source)
                await self._release(keys=[lease], args=[self.owner])

    async def read_once(self, stream: BotStream) -> int:
        """One read of one bot's stream if this process holds it; the number of events handled."""
        keys = self.runtime.keys
        lease = keys.updates_lease(stream.platform, stream.source)
        if not await self._hold(keys=[lease], args=[self.owner, self.lease_ms]):
            return 0
        adapter = self.runtime.adapters[stream.platform]
        offset_key = keys.updates_offset(stream.platform, stream.source)
        raw = await self.runtime.redis.get(offset_key)
        offset = text(raw) if raw is not None else None
        batch = await adapter.updates(stream.credentials, offset, self.poll_seconds)
        for event in batch.events:
            for handler in self.handlers:
                try:
                    await handler(stream.platform, stream.agencies, event)
                except Exception:
                    # One bad event must not stop the bot's stream; the handler logged what it could.
                    log.exception(
                        "updates.handler_failed", platform=stream.platform, event=type(event).__name__
                    )
        if batch.offset is not None and batch.offset != offset:
            await self._advance(keys=[lease, offset_key], args=[self.owner, batch.offset])
        return len(batch.events)

    async def _read(self, stream: BotStream) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                handled = await self.read_once(stream)
                if failing:
                    log.info("updates.back", platform=stream.platform)
                    failing = False
            except DeliveryError as error:
                if not failing:
                    log.warning("updates.unavailable", platform=stream.platform, detail=str(error))
                failing, handled = True, 0
            except Exception:
                if not failing:
                    log.warning("updates.read_failed", platform=stream.platform, exc_info=True)
                failing, handled = True, 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.idle_seconds)
