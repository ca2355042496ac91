"""Consuming a Redis stream through FastStream: batches, our own parsing, and crash recovery.

Each stream gets two FastStream subscribers in one consumer group: a reader (XREADGROUP `>`) and a
claimer (XAUTOCLAIM after `claim_idle_ms`), because FastStream's nack/reject never redeliver on
streams and a dead consumer's pending entries would otherwise wait forever. FastStream's own body
parsing is bypassed: one malformed entry must become a dead letter, not fail its whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.logs import get_logger
from services.ops.connection import watch
from services.runtime import text

log = get_logger("hamafza.consumer")


@dataclass(frozen=True)
class Entry:
    """One stream entry, as read: where it came from and its raw fields."""

    stream: str
    group: str
    id: str
    fields: dict[bytes, bytes]
    deliveries: int  # how often the group has handed it out (1 when read fresh)

    @property
    def ack(self) -> tuple[str, str, str]:
        return (self.stream, self.group, self.id)


# A handler processes its entries and acknowledges each one itself (atomically with its outcome);
# an entry it leaves unacknowledged is handed out again after `claim_idle_ms`.
BatchHandler = Callable[[list[Entry]], Awaitable[None]]
EntryHandler = Callable[[Entry], Awaitable[None]]


async def _guarded(handle_entry: EntryHandler, entry: Entry, failure_event: str) -> None:
    try:
        await handle_entry(entry)
    except Exception as error:
        if watch.swallow(error):  # Redis went away: reported once; the entry is handed out again
            return
        log.exception(failure_event, entry_id=entry.id, stream=entry.stream, deliveries=entry.deliveries)


def each_entry(handle_entry: EntryHandler, failure_event: str) -> BatchHandler:
    """A batch handler that handles a batch's entries concurrently, each on its own.

    An unexpected exception is logged and leaves only that entry unacknowledged: the claimer hands it
    out again, and after `max_deliveries` it becomes a `poison` dead letter instead of a crash.
    """

    async def handle(entries: list[Entry]) -> None:
        await asyncio.gather(*(_guarded(handle_entry, entry, failure_event) for entry in entries))

    return handle


class InFlight:
    """Entries handled in background tasks, up to `limit` at once, so that reading the next batch
    never waits for the slowest platform call of the last one.

    `handle` returns once every entry of the batch has a slot (so a full house holds reading back);
    each entry is still acknowledged only with its outcome. `drain` waits for the tasks on shutdown.
    """

    def __init__(self, handle_entry: EntryHandler, failure_event: str, limit: int) -> None:
        self._handle_entry = handle_entry
        self._failure_event = failure_event
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[tuple[str, str, str], Entry] = {}  # read, not yet finished (waiting or running)

    @property
    def held(self) -> list[Entry]:
        """Entries this process holds: the heartbeat keeps them from looking abandoned."""
        return list(self._held.values())

    async def handle(self, entries: list[Entry]) -> None:
        self._held.update((entry.ack, entry) for entry in entries)
        for entry in entries:
            await self._slots.acquire()
            task = asyncio.create_task(self._run(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, entry: Entry) -> None:
        try:
            await _guarded(self._handle_entry, entry, self._failure_event)
        finally:
            self._held.pop(entry.ack, None)
            self._slots.release()

    @property
    def count(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Let the calls in flight finish (and record their outcomes); what cannot is reclaimed later."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()


async def _keep_raw(
    message: Mapping[str, Any], original: Callable[[Mapping[str, Any]], Awaitable[Any]]
) -> Any:
    safe = dict(message)
    safe["entries"] = message["data"]
    safe["data"] = []
    return await original(safe)


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the group at the stream's beginning, so entries added before any worker started count."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def consume(
    broker: RedisBroker,
    redis: Redis,
    *,
    stream: str,
    group: str,
    consumer: str,
    handler: BatchHandler,
    batch_size: int,
    claim_idle_ms: int,
) -> None:
    """Register a reader and a claimer for `stream` in `group`, both feeding `handler`."""

    async def on_batch(body: list[Any], msg: RedisBatchStreamMessage, claimed: bool) -> None:
        raw: Any = msg.raw_message  # with `entries` added by _keep_raw
        ids = [text(entry_id) for entry_id in raw["message_ids"]]
        counts = {entry_id: 1 for entry_id in ids}
        if claimed and ids:
            # XAUTOCLAIM raised the counter; XPENDING tells how often each entry was handed out.
            pending = await redis.xpending_range(
                stream, group, min=min(ids), max=max(ids), count=len(ids) * 2
            )
            counts.update({text(p["message_id"]): int(p["times_delivered"]) for p in pending})
        entries = [
            Entry(stream, group, entry_id, dict(fields), counts[entry_id])
            for entry_id, fields in zip(ids, raw["entries"], strict=True)
        ]
        await handler(entries)

    async def read(body: list[Any], msg: RedisBatchStreamMessage) -> None:
        await on_batch(body, msg, claimed=False)

    async def claim(body: list[Any], msg: RedisBatchStreamMessage) -> None:
        await on_batch(body, msg, claimed=True)

    broker.subscriber(
        stream=StreamSub(stream, group=group, consumer=consumer, batch=True, max_records=batch_size),
        ack_policy=AckPolicy.MANUAL,
        parser=_keep_raw,
        title=f"{stream} ({group})",
    )(read)
    broker.subscriber(
        stream=StreamSub(
            stream, group=group, consumer=f"{consumer}-claimer", batch=True, min_idle_time=claim_idle_ms
        ),
        ack_policy=AckPolicy.MANUAL,
        parser=_keep_raw,
        title=f"{stream} ({group}, reclaim)",
        include_in_schema=False,
    )(claim)
