"""The recorder: copies what happened from Redis into the records database, then lets Redis forget.

Its own consumer group, `recorder`, on five streams: `items` (what agencies published), `results`
(every delivery's final state), `dead` (dead letters), `reach` (metric snapshots) and `approvals`
(each approval's change of state: who decided, when). A batch is
written in one idempotent upsert and acknowledged only after the database committed it, so a crash
redelivers the batch and the rows come out the same. Once a result is recorded, its ledger hash and
its item's hashes get a time to live of `HAMAFZA_RECORD_RETENTION_DAYS`: Redis keeps work in flight,
the database keeps the records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from schemas import DeliveryState
from services.keys import ReachKeys
from services.logs import get_logger
from services.pipeline.consumer import Entry
from services.records import rows
from services.records.repository import Records
from services.runtime import Runtime, now

GROUP = "recorder"
# The database not answering: wait (the entries stay pending), never skip.
_UNAVAILABLE = (OperationalError, InterfaceError, OSError, TimeoutError)
log = get_logger("hamafza.recorder")


class Recorder:
    def __init__(self, runtime: Runtime, records: Records) -> None:
        self.runtime = runtime
        self.records = records
        self.prefix = runtime.keys.prefix

    def streams(self) -> list[tuple[str, Callable[[list[Entry]], Awaitable[None]]]]:
        keys = self.runtime.keys
        return [
            (keys.items, self.handle_items),
            (keys.results, self.handle_results),
            (keys.dead, self.handle_dead),
            (ReachKeys(keys.prefix).snapshots, self.handle_reach),
            (keys.approvals_events, self.handle_approvals),
        ]

    async def _ack(self, entries: list[Entry], extra: Callable[[Any], None] | None = None) -> None:
        async with self.runtime.redis.pipeline(transaction=False) as pipe:
            if extra is not None:
                extra(pipe)
            for entry in entries:
                pipe.xack(*entry.ack)
            await pipe.execute()

    async def _guarded(
        self, what: str, entries: list[Entry], write: Callable[[list[Entry]], Awaitable[None]]
    ) -> None:
        """Write a batch; if the database refuses it, each entry alone, so that one bad entry cannot
        hold the others back. An entry the database refuses is left unacknowledged (the claimer hands
        it out again) until it was handed out more than `max_deliveries` times: then it is skipped,
        with an error to read. While the database does not answer, nothing is skipped."""
        try:
            await write(entries)
            return
        except _UNAVAILABLE:
            log.warning("recorder.database_unavailable", stream=what, entries=len(entries), exc_info=True)
            return
        except Exception:
            log.exception("recorder.write_failed", stream=what, entries=len(entries))
        for entry in entries:
            try:
                await write([entry])
            except _UNAVAILABLE:
                return
            except Exception:
                if entry.deliveries > self.runtime.settings.max_deliveries:
                    log.exception(
                        "recorder.poison", stream=what, entry_id=entry.id, deliveries=entry.deliveries
                    )
                    await self._ack([entry])

    async def handle_items(self, entries: list[Entry]) -> None:
        async def write(entries: list[Entry]) -> None:
            agencies = self.runtime.network.agencies
            found = [rows.item_row(self.prefix, entry.id, entry.fields) for entry in entries]
            # An unknown agency's item is not fanned out: its dead letter is the record of it.
            kept = [row for row in found if row is not None and row["agency"] in agencies]
            await self.records.add_items(rows.latest_by(kept, ("id",), "entry_id"))
            await self._ack(entries)

        await self._guarded("items", entries, write)

    async def handle_results(self, entries: list[Entry]) -> None:
        async def write(entries: list[Entry]) -> None:
            results = [result for entry in entries if (result := rows.result_of(entry.fields)) is not None]
            keys = self.runtime.keys
            async with self.runtime.redis.pipeline(transaction=False) as pipe:
                for result in results:
                    pipe.hget(keys.ledger(result.delivery.id), "attempts")
                attempts: list[Any] = await pipe.execute()
            moment = now()
            found = [
                rows.delivery_row(self.prefix, result, int(count or 0), moment)
                for result, count in zip(results, attempts, strict=True)
            ]
            await self.records.add_results(rows.latest_by(found, ("id",), "finished_at"))
            retention = self.runtime.record_retention_ms

            def expire(pipe: Any) -> None:
                # Finished work: Redis may forget it after the retention (the database has it).
                for result in results:
                    if result.state in (DeliveryState.POSTED, DeliveryState.DEAD):
                        delivery = result.delivery
                        pipe.pexpire(keys.ledger(delivery.id), retention)
                        pipe.pexpire(keys.item(delivery.item_id), retention)
                        pipe.pexpire(keys.item_deliveries(delivery.item_id), retention)

            await self._ack(entries, expire)

        await self._guarded("results", entries, write)

    async def handle_dead(self, entries: list[Entry]) -> None:
        async def write(entries: list[Entry]) -> None:
            found = [rows.dead_letter_row(self.prefix, entry.id, entry.fields) for entry in entries]
            await self.records.add_dead_letters([r for r in found if r])
            await self._ack(entries)

        await self._guarded("dead", entries, write)

    async def handle_approvals(self, entries: list[Entry]) -> None:
        async def write(entries: list[Entry]) -> None:
            found = [r for entry in entries if (r := rows.approval_row(self.prefix, entry.fields))]
            await self.records.add_approvals(rows.latest_by(found, ("id",), "order"))
            await self._ack(entries)

        await self._guarded("approvals", entries, write)

    async def handle_reach(self, entries: list[Entry]) -> None:
        async def write(entries: list[Entry]) -> None:
            found = [r for entry in entries if (r := rows.snapshot_row(self.prefix, entry.fields))]
            series = rows.latest_by(found, ("delivery_id", "taken_at", "offset_label"), "taken_at")
            latest = [
                {k: row[k] for k in ("prefix", "delivery_id", "taken_at", *rows.METRIC_COLUMNS)}
                for row in rows.latest_by(found, ("delivery_id",), "taken_at")
            ]
            audiences = [
                {
                    "prefix": row["prefix"],
                    "platform": row["platform"],
                    "agency": row["agency"],
                    "audience": row["audience"],
                    "taken_at": row["taken_at"],
                }
                for row in rows.latest_by(
                    [r for r in found if r["audience"] is not None], ("platform", "agency"), "taken_at"
                )
            ]
            await self.records.add_snapshots(series, latest, audiences)
            await self._ack(entries)

        await self._guarded("reach", entries, write)


async def record_pending(runtime: Runtime, timeout: float = 60.0) -> None:
    """Run a recorder until it has recorded everything waiting in its streams, then stop (and close
    the runtime): for tools that write records outside the workers (the demo's reach poll)."""
    import asyncio

    from services.app import build_workers
    from services.ops.status import outstanding_work

    workers = build_workers(runtime, ["recorder"])
    await workers.start()
    try:
        async with asyncio.timeout(timeout):
            while True:  # polling Redis: no in-process event says the streams are read
                if (await outstanding_work(runtime.redis, runtime.keys, workers.streams))["idle"]:
                    break
                await asyncio.sleep(0.1)
    finally:
        await workers.stop()
