"""A worker's heartbeat: what it holds stays its own while it lives, and only while it lives.

Leases are short (`Settings.lease_ms`, 8 s) so that a dead worker's deliveries are reconciled within
seconds, not after the longest call a platform may take. A live worker therefore renews, every
quarter of the shorter of lease and claim idle time:

- the ledger leases of the deliveries it is sending (`Ledger.renew`, only those it holds), and
- the idle time of the stream entries it has read but not finished (`XCLAIM … 0 … JUSTID`, which
  resets the idle time without counting a delivery), so the claimers of other workers, which take
  entries idle for `claim_idle_ms`, never hand out an entry a live worker is working on.

A worker that dies stops beating: within `claim_idle_ms` its entries are claimed elsewhere, find
the lease run out, and are reconciled with the platform.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.typing import StreamIdT

from services.ops.periodic import Periodic
from services.pipeline.consumer import InFlight
from services.pipeline.ledger import Ledger

if TYPE_CHECKING:
    from services.pipeline.deliver import Deliver


def interval_seconds(lease_ms: int, claim_idle_ms: int) -> float:
    return max(min(lease_ms, claim_idle_ms) / 4000, 0.02)


class Heartbeat(Periodic):
    def __init__(
        self,
        redis: Redis,
        ledger: Ledger,
        in_flight: InFlight,
        sending: Callable[[], list[str]],
        *,
        holder: str,
        lease_ms: int,
        claim_idle_ms: int,
    ) -> None:
        super().__init__("heartbeat", interval_seconds(lease_ms, claim_idle_ms), self.beat)
        self.redis, self.ledger, self.in_flight, self.sending = redis, ledger, in_flight, sending
        self.holder, self.lease_ms = holder, lease_ms

    @classmethod
    def of(cls, worker: Deliver, ledger: Ledger) -> Heartbeat:
        """The heartbeat of a deliver worker: its entries in flight, its deliveries being sent."""
        runtime, settings = worker.runtime, worker.runtime.settings
        return cls(
            runtime.redis,
            ledger,
            worker.in_flight,
            worker.sending,
            holder=runtime.consumer,
            lease_ms=settings.lease_ms,
            claim_idle_ms=settings.claim_idle_ms,
        )

    async def beat(self) -> None:
        held = sorted(self.in_flight.held, key=lambda entry: (entry.stream, entry.group))
        async with self.redis.pipeline(transaction=False) as pipe:
            for (stream, group), entries in groupby(held, key=lambda entry: (entry.stream, entry.group)):
                ids: list[StreamIdT] = [entry.id for entry in entries]
                pipe.xclaim(stream, group, self.holder, 0, ids, justid=True)
            if held:
                await pipe.execute()
        await self.ledger.renew(self.sending(), self.lease_ms, self.holder)
