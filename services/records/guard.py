"""The database's word before a platform call whose ledger Redis no longer has.

A finished delivery's ledger hash expires after the retention; should its entry come back (a replay,
a redelivery, an item published again), the claim finds no ledger and says "go". Before calling the
platform, the deliver service asks the database whether that delivery was already posted. Lookups of
concurrent deliveries share one query.
"""

from __future__ import annotations

import asyncio

from services.records.repository import RecordedDelivery, Records


class PostedGuard:
    def __init__(self, records: Records) -> None:
        self.records = records
        self._waiting: dict[str, list[asyncio.Future[RecordedDelivery | None]]] = {}
        self._flush: asyncio.Task[None] | None = None

    async def posted(self, delivery_id: str) -> RecordedDelivery | None:
        """The recorded post of this delivery, or None if the database has none."""
        future: asyncio.Future[RecordedDelivery | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(delivery_id, []).append(future)
        if self._flush is None:
            self._flush = asyncio.create_task(self._lookup())
        return await future

    async def _lookup(self) -> None:
        await asyncio.sleep(0)  # let the deliveries of this turn of the loop join
        waiting, self._waiting, self._flush = self._waiting, {}, None
        try:
            found = await self.records.posted(list(waiting))
        except Exception as error:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            return
        for delivery_id, futures in waiting.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(delivery_id))
