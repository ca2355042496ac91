"""The tables of the records database. Every row carries the key prefix (`HAMAFZA_PREFIX`), so
deployments that share a Redis under different prefixes can share a database too, and stay apart.

Schema changes ship as Alembic migrations (`services/records/migrations`); this module is what the
code reads and writes, and `tests/test_records.py` checks that the migrations produce exactly it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

Moment = DateTime(timezone=True)

# What a person decided about an amplification that needs approval (issue 13 fills this in).
APPROVAL_STATES = ("awaiting_approval", "approved", "declined", "expired")
# What a person did about a dead letter; `open` until someone acts.
LETTER_STATES = ("open", "replayed", "resolved", "purged")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ItemRow(Base):
    """An item as an agency published it (first sighting wins: a re-published id changes nothing)."""

    __tablename__ = "items"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    agency: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    entry_id: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(Moment)
    __table_args__ = (
        Index("ix_items_period", "prefix", "received_at"),
        Index("ix_items_campaign", "prefix", "campaign", "received_at"),
    )


class DeliveryRow(Base):
    """One row per delivery (item × agency × platform × action): its final state and where it went.

    Amplifications are deliveries whose `action` is not `publish`; `source_*` is the post they amplify.
    What the report reads is kept on the row itself, so that a period's report is one scan of its
    rows (`ix_deliveries_period`): the item's received time, and the post's latest snapshot (copied
    from `reach_latest` whenever either arrives).
    """

    __tablename__ = "deliveries"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(400), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(160))
    agency: Mapped[str] = mapped_column(String(64))
    origin_agency: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    campaign: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # posted | dead
    reason: Mapped[str | None] = mapped_column(String(32))
    post_id: Mapped[str | None] = mapped_column(String(200))
    chat: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    source_agency: Mapped[str | None] = mapped_column(String(64))
    source_post_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime] = mapped_column(Moment)  # the result's time
    recorded_at: Mapped[datetime] = mapped_column(Moment)
    item_received_at: Mapped[datetime | None] = mapped_column(Moment)  # the item's day counts
    measured_at: Mapped[datetime | None] = mapped_column(Moment)  # the latest snapshot's time
    audience: Mapped[int | None] = mapped_column(BigInteger)
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    reposts: Mapped[int | None] = mapped_column(BigInteger)
    replies: Mapped[int | None] = mapped_column(BigInteger)
    quotes: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("state in ('posted', 'dead')", name="state"),
        Index("ix_deliveries_item", "prefix", "item_id"),
        Index("ix_deliveries_finished", "prefix", "finished_at"),
        Index("ix_deliveries_period", "prefix", "item_received_at"),
    )


class ApprovalRow(Base):
    """A partner's approval of amplifying one item (all its platforms): the state, who decided, when."""

    __tablename__ = "approvals"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(240), primary_key=True)  # <item id>.<partner>
    item_id: Mapped[str] = mapped_column(String(160))
    partner: Mapped[str] = mapped_column(String(64))  # the amplifying agency, whose approver decides
    origin_agency: Mapped[str] = mapped_column(String(64))
    network: Mapped[str] = mapped_column(String(64))
    platforms: Mapped[str] = mapped_column(Text)  # comma-separated
    state: Mapped[str] = mapped_column(String(24))
    requested_at: Mapped[datetime] = mapped_column(Moment)
    expires_at: Mapped[datetime | None] = mapped_column(Moment)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(Moment)
    __table_args__ = (
        CheckConstraint(f"state in {APPROVAL_STATES!r}", name="state"),
        Index("ix_approvals_partner", "prefix", "partner", "state"),
        Index("ix_approvals_item", "prefix", "item_id"),
    )


class ReachSnapshotRow(Base):
    """The time series: every snapshot of a post's metrics and its account's audience."""

    __tablename__ = "reach_snapshots"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(400), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(Moment, primary_key=True)
    offset_label: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(160))
    agency: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(200))
    audience: Mapped[int | None] = mapped_column(BigInteger)
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    reposts: Mapped[int | None] = mapped_column(BigInteger)
    replies: Mapped[int | None] = mapped_column(BigInteger)
    quotes: Mapped[int | None] = mapped_column(BigInteger)
    views: Mapped[int | None] = mapped_column(BigInteger)


class ReachLatestRow(Base):
    """Each post's latest snapshot, kept beside the series so the report reads one row per post."""

    __tablename__ = "reach_latest"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(400), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(Moment)
    audience: Mapped[int | None] = mapped_column(BigInteger)
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    reposts: Mapped[int | None] = mapped_column(BigInteger)
    replies: Mapped[int | None] = mapped_column(BigInteger)
    quotes: Mapped[int | None] = mapped_column(BigInteger)
    views: Mapped[int | None] = mapped_column(BigInteger)


class AudienceRow(Base):
    """Each account's latest known audience (followers, members): the reach of unmeasured posts."""

    __tablename__ = "audiences"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(64), primary_key=True)
    audience: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[datetime] = mapped_column(Moment)


class DeadLetterRow(Base):
    """A dead letter (keyed by its entry id in the dead stream) and what a person did about it."""

    __tablename__ = "dead_letters"
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(String(160))
    agency: Mapped[str | None] = mapped_column(String(64))
    platform: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(16))
    delivery_id: Mapped[str | None] = mapped_column(String(400))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    letter: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the whole DeadLetter, for replay
    at: Mapped[datetime] = mapped_column(Moment)
    status: Mapped[str] = mapped_column(String(16), default="open")
    handled_by: Mapped[str | None] = mapped_column(String(200))
    handled_at: Mapped[datetime | None] = mapped_column(Moment)
    outcome: Mapped[str | None] = mapped_column(Text)  # what the action found: replayed, already_posted…
    __table_args__ = (
        CheckConstraint(f"status in {LETTER_STATES!r}", name="status"),
        Index("ix_dead_letters_status", "prefix", "status", "id"),
        Index("ix_dead_letters_delivery", "prefix", "delivery_id"),
    )
