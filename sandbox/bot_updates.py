"""The fake Bot API's updates: a queue per bot, read with `getUpdates` (long poll, offset, allowed
updates), with Telegram's rule of one reader per bot: a second concurrent `getUpdates` gets 409."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from itertools import count
from typing import Any

Json = dict[str, Any]
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


class UpdateConflict(Exception):
    """A second reader of one bot's updates."""


class BotUpdates:
    """Per bot: pending updates, the allowed types it last asked for, and whether a reader is in."""

    def __init__(self) -> None:
        self.pending: dict[str, list[Json]] = {}
        self.allowed: dict[str, frozenset[str] | None] = {}
        self.readers: set[str] = set()
        self.arrived: dict[str, asyncio.Event] = {}
        self._ids = count(1)

    def push(self, bot_id: str, kind: str, payload: Json) -> Json:
        """Queue one update (`channel_post`, `message`, `callback_query`…) for a bot."""
        update = {"update_id": next(self._ids), kind: payload}
        self.pending.setdefault(bot_id, []).append(update)
        self.arrived.setdefault(bot_id, asyncio.Event()).set()
        return update

    async def read(
        self,
        bot_id: str,
        offset: int | None,
        timeout: float,
        limit: int,
        allowed_updates: Sequence[str] | None,
    ) -> list[Json]:
        if bot_id in self.readers:
            raise UpdateConflict(CONFLICT)
        self.readers.add(bot_id)
        try:
            if allowed_updates is not None:
                # As on Telegram, the choice is remembered for later calls; [] means "all".
                self.allowed[bot_id] = frozenset(allowed_updates) or None
            queue = self.pending.setdefault(bot_id, [])
            if offset is not None:
                # Confirms every update before `offset`.
                queue[:] = [update for update in queue if update["update_id"] >= offset]
            found = self._visible(bot_id)
            if not found and timeout > 0:
                event = self.arrived.setdefault(bot_id, asyncio.Event())
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
                found = self._visible(bot_id)
            return found[: max(1, min(limit, 100))]
        finally:
            self.readers.discard(bot_id)

    def _visible(self, bot_id: str) -> list[Json]:
        allowed = self.allowed.get(bot_id)
        queue = self.pending.get(bot_id, [])
        return [update for update in queue if allowed is None or (update.keys() - {"update_id"}) & allowed]
