"""Reading and writing the records database: idempotent upserts, and the queries people's tools run.

Every write is safe to repeat: an entry delivered twice (a crash before its acknowledgement, an
import run twice) changes nothing. A delivery has one row; a later result replaces an earlier one
only if it is newer and the row is not `posted` (posted is final).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.records.models import (
    ApprovalRow,
    AudienceRow,
    DeadLetterRow,
    DeliveryRow,
    ItemRow,
    ReachLatestRow,
    ReachSnapshotRow,
)

Row = dict[str, Any]
# Columns a newer result does not overwrite: the key, and what is copied from the item and the reach.
_KEPT = frozenset(
    {"prefix", "id", "item_received_at", "measured_at", "audience", "impressions", "likes", "reposts",
     "replies", "quotes"}
)  # fmt: skip
# The item's received time onto its deliveries (by delivery ids, or by item ids), where missing.
_ITEM_TIME = text("""
UPDATE deliveries d SET item_received_at = i.received_at
FROM items i
WHERE d.prefix = :prefix AND i.prefix = :prefix AND i.id = d.item_id AND d.item_received_at IS NULL
  AND (d.id = ANY(:ids) OR d.item_id = ANY(:items))
""")
# Each post's latest snapshot (reach_latest holds the newest) onto its delivery row.
_LATEST_METRICS = text("""
UPDATE deliveries d SET measured_at = r.taken_at, audience = r.audience, impressions = r.impressions,
       likes = r.likes, reposts = r.reposts, replies = r.replies, quotes = r.quotes
FROM reach_latest r
WHERE r.prefix = :prefix AND r.delivery_id = ANY(:ids) AND d.prefix = :prefix AND d.id = r.delivery_id
  AND d.measured_at IS DISTINCT FROM r.taken_at
""")


def _clean(value: Any) -> Any:
    """PostgreSQL text and JSONB cannot hold NUL characters, which hostile input may carry."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def _rows(rows: Sequence[Row]) -> list[Row]:
    return [_clean(row) for row in rows]


_METRICS = ("audience", "impressions", "likes", "reposts", "replies", "quotes", "views")


@dataclass(frozen=True)
class RecordedItem:
    id: str
    agency: str
    document: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class RecordedDelivery:
    delivery_id: str
    item_id: str
    agency: str
    platform: str
    action: str
    state: str
    post_id: str | None
    url: str | None
    chat: str | None
    reason: str | None
    attempts: int
    finished_at: datetime | None


@dataclass(frozen=True)
class RecordedLetter:
    id: str
    letter: dict[str, Any]
    delivery_id: str | None
    status: str
    handled_by: str | None
    handled_at: datetime | None
    outcome: str | None


class Records:
    """The records of one deployment (one key prefix) in one database."""

    def __init__(self, engine: AsyncEngine, prefix: str) -> None:
        self.engine = engine
        self.prefix = prefix
        self.checked = False  # answered and migrated, as a starting worker verified

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        """The readiness probe: the database answers a query."""
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    # --- writes --------------------------------------------------------------------------------

    async def add_items(self, rows: Sequence[Row]) -> None:
        if rows:
            statement = insert(ItemRow).on_conflict_do_nothing(index_elements=["prefix", "id"])
            async with self.engine.begin() as connection:
                await connection.execute(statement, _rows(rows))
                # Deliveries recorded before their item (another batch): their day, now.
                await connection.execute(
                    _ITEM_TIME, {"prefix": self.prefix, "ids": [], "items": [row["id"] for row in rows]}
                )

    async def add_results(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        statement = insert(DeliveryRow)
        table, new = DeliveryRow.__table__, statement.excluded
        changing = [column.name for column in table.columns if column.name not in _KEPT]
        statement = statement.on_conflict_do_update(
            index_elements=["prefix", "id"],
            set_={name: new[name] for name in changing},
            where=and_(table.c.state != "posted", new.finished_at > table.c.finished_at),
        )
        ids = [row["id"] for row in rows]
        async with self.engine.begin() as connection:
            await connection.execute(statement, _rows(rows))
            await connection.execute(_ITEM_TIME, {"prefix": self.prefix, "ids": ids, "items": []})
            await connection.execute(_LATEST_METRICS, {"prefix": self.prefix, "ids": ids})

    async def add_dead_letters(self, rows: Sequence[Row]) -> None:
        if rows:
            statement = insert(DeadLetterRow).on_conflict_do_nothing(index_elements=["prefix", "id"])
            async with self.engine.begin() as connection:
                await connection.execute(statement, _rows(rows))

    async def add_snapshots(
        self, rows: Sequence[Row], latest: Sequence[Row], audiences: Sequence[Row]
    ) -> None:
        """The series, each post's latest snapshot, and each account's latest audience."""
        if not rows:
            return
        series = insert(ReachSnapshotRow).on_conflict_do_nothing()
        newest = insert(ReachLatestRow)
        table = ReachLatestRow.__table__
        newest = newest.on_conflict_do_update(
            index_elements=["prefix", "delivery_id"],
            set_={name: newest.excluded[name] for name in ("taken_at", *_METRICS)},
            where=newest.excluded.taken_at > table.c.taken_at,
        )
        async with self.engine.begin() as connection:
            await connection.execute(series, _rows(rows))
            await connection.execute(newest, _rows(latest))
            ids = [row["delivery_id"] for row in latest]
            await connection.execute(_LATEST_METRICS, {"prefix": self.prefix, "ids": ids})
        await self.add_audiences(audiences)

    async def add_audiences(self, rows: Sequence[Row]) -> None:
        if rows:
            statement = insert(AudienceRow)
            statement = statement.on_conflict_do_update(
                index_elements=["prefix", "platform", "agency"],
                set_={"audience": statement.excluded.audience, "taken_at": statement.excluded.taken_at},
                where=statement.excluded.taken_at > AudienceRow.__table__.c.taken_at,
            )
            async with self.engine.begin() as connection:
                await connection.execute(statement, _rows(rows))

    async def add_approvals(self, rows: Sequence[Row]) -> None:
        """Approvals' states: a decision is final, so only a waiting approval's row changes."""
        if not rows:
            return
        statement = insert(ApprovalRow)
        table = ApprovalRow.__table__
        changing = [column.name for column in table.columns if column.name not in {"prefix", "id"}]
        statement = statement.on_conflict_do_update(
            index_elements=["prefix", "id"],
            set_={name: statement.excluded[name] for name in changing},
            where=table.c.state == "awaiting_approval",
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                statement, [{k: v for k, v in row.items() if k != "order"} for row in rows]
            )

    async def approvals(self, item_id: str) -> list[dict[str, Any]]:
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.prefix == self.prefix, ApprovalRow.item_id == item_id)
            .order_by(ApprovalRow.id)
        )
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings().all()]

    async def mark_letter(self, letter_id: str, status: str, by: str, outcome: str, at: datetime) -> None:
        """Record what a person did about a dead letter (replay, resolve, purge), by whom and when."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(DeadLetterRow)
                .where(DeadLetterRow.prefix == self.prefix, DeadLetterRow.id == letter_id)
                .values(status=status, handled_by=by, handled_at=at, outcome=outcome)
            )

    # --- reads ---------------------------------------------------------------------------------

    async def posted(self, delivery_ids: Sequence[str]) -> dict[str, RecordedDelivery]:
        """Those of these deliveries that are recorded as posted: the guard before a platform call."""
        if not delivery_ids:
            return {}
        query = select(DeliveryRow).where(
            DeliveryRow.prefix == self.prefix,
            DeliveryRow.id.in_(list(delivery_ids)),
            DeliveryRow.state == "posted",
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return {row["id"]: _delivery(row) for row in rows}

    async def item(self, item_id: str) -> RecordedItem | None:
        query = select(ItemRow).where(ItemRow.prefix == self.prefix, ItemRow.id == item_id)
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            return None
        return RecordedItem(row["id"], row["agency"], row["document"], row["received_at"])

    async def item_deliveries(self, item_id: str) -> list[RecordedDelivery]:
        query = (
            select(DeliveryRow)
            .where(DeliveryRow.prefix == self.prefix, DeliveryRow.item_id == item_id)
            .order_by(DeliveryRow.id)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_delivery(row) for row in rows]

    async def delivery(self, delivery_id: str) -> RecordedDelivery | None:
        query = select(DeliveryRow).where(DeliveryRow.prefix == self.prefix, DeliveryRow.id == delivery_id)
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return _delivery(row) if row is not None else None

    async def dead_letters(
        self, *, handled: bool = False, reason: str | None = None, count: int | None = None
    ) -> list[RecordedLetter]:
        """Open dead letters, oldest first; with `handled`, also those a person dealt with."""
        query = select(DeadLetterRow).where(DeadLetterRow.prefix == self.prefix)
        if not handled:
            query = query.where(DeadLetterRow.status == "open")
        if reason is not None:
            query = query.where(DeadLetterRow.reason == reason)
        query = query.order_by(func.length(DeadLetterRow.id), DeadLetterRow.id).limit(count)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_letter(row) for row in rows]

    async def known_letters(self, letter_ids: Sequence[str]) -> set[str]:
        """Which of these dead-letter ids the database has recorded (whatever their status)."""
        if not letter_ids:
            return set()
        query = select(DeadLetterRow.id).where(
            DeadLetterRow.prefix == self.prefix, DeadLetterRow.id.in_(list(letter_ids))
        )
        async with self.engine.connect() as connection:
            return {row[0] for row in await connection.execute(query)}

    async def dead_letter(self, letter_id: str) -> RecordedLetter | None:
        query = select(DeadLetterRow).where(
            DeadLetterRow.prefix == self.prefix, DeadLetterRow.id == letter_id
        )
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return _letter(row) if row is not None else None

    async def counts(self) -> dict[str, int]:
        """Rows per table for this prefix (status and the import's summary)."""
        tables: dict[str, Any] = {
            "items": ItemRow.__table__,
            "deliveries": DeliveryRow.__table__,
            "reach_snapshots": ReachSnapshotRow.__table__,
            "dead_letters": DeadLetterRow.__table__,
        }
        found: dict[str, int] = {}
        async with self.engine.connect() as connection:
            for name, table in tables.items():
                query = select(func.count()).select_from(table).where(table.c.prefix == self.prefix)
                found[name] = int((await connection.execute(query)).scalar_one())
        return found


def _delivery(row: Any) -> RecordedDelivery:
    return RecordedDelivery(
        delivery_id=row["id"],
        item_id=row["item_id"],
        agency=row["agency"],
        platform=row["platform"],
        action=row["action"],
        state=row["state"],
        post_id=row["post_id"],
        url=row["url"],
        chat=row["chat"],
        reason=row["reason"],
        attempts=row["attempts"],
        finished_at=row["finished_at"],
    )


def _letter(row: Any) -> RecordedLetter:
    return RecordedLetter(
        id=row["id"],
        letter=row["letter"],
        delivery_id=row["delivery_id"],
        status=row["status"],
        handled_by=row["handled_by"],
        handled_at=row["handled_at"],
        outcome=row["outcome"],
    )
