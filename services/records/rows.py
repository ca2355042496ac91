"""Stream entries → table rows: pure functions, shared by the recorder and `hamafza db import-redis`.

Each returns None for an entry that is not what its stream carries (the recorder skips it, as the
other consumers of the stream do).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from schemas import DeadLetter, Item, Result
from services.reach.snapshots import ReachSnapshot
from services.runtime import BadEntry, decode_entry, entry_id_order

Row = dict[str, Any]


def entry_time(entry_id: str) -> datetime:
    """When Redis appended an entry: the milliseconds of its id."""
    return datetime.fromtimestamp(entry_id_order(entry_id)[0] / 1000, UTC)


def item_row(prefix: str, entry_id: str, fields: dict[bytes, bytes]) -> Row | None:
    try:
        item = Item.model_validate(decode_entry(fields))
    except (BadEntry, ValidationError):
        return None  # fan-out dead-letters it; the dead letter is recorded instead
    item_id = item.id or f"e{entry_id}"  # the id fan-out derives, stable across redelivery
    return {
        "prefix": prefix,
        "id": item_id,
        "agency": item.agency,
        "campaign": item.campaign,
        "text": item.text,
        "document": item.model_dump(mode="json", exclude_none=True) | {"id": item_id},
        "entry_id": entry_id,
        "received_at": entry_time(entry_id),
    }


def item_hash_row(prefix: str, item_id: str, fields: dict[str, str]) -> Row | None:
    """An item from its Redis hash (`hamafza:item:<id>`), for deployments whose items stream is trimmed."""
    if not fields.get("agency") or "received_ms" not in fields:
        return None
    document = {"id": item_id, "agency": fields["agency"], "text": fields.get("text", "")}
    if fields.get("campaign"):
        document["campaign"] = fields["campaign"]
    return {
        "prefix": prefix,
        "id": item_id,
        "agency": fields["agency"],
        "campaign": fields.get("campaign") or None,
        "text": fields.get("text", ""),
        "document": document,
        "entry_id": fields.get("entry_id"),
        "received_at": datetime.fromtimestamp(int(fields["received_ms"]) / 1000, UTC),
    }


def result_of(fields: dict[bytes, bytes]) -> Result | None:
    try:
        return Result.model_validate(decode_entry(fields))
    except (BadEntry, ValidationError):
        return None


def delivery_row(prefix: str, result: Result, attempts: int, recorded_at: datetime) -> Row:
    delivery, post = result.delivery, result.post
    return {
        "prefix": prefix,
        "id": delivery.id,
        "item_id": delivery.item_id,
        "agency": delivery.agency,
        "origin_agency": delivery.origin_agency,
        "platform": delivery.platform,
        "action": delivery.action.value,
        "campaign": delivery.campaign,
        "state": result.state.value,
        "reason": result.reason.value if result.reason else None,
        "post_id": post.post_id if post else None,
        "chat": post.chat if post else None,
        "url": post.url if post else None,
        "source_agency": delivery.source.agency if delivery.source else None,
        "source_post_id": delivery.source.post_id if delivery.source else None,
        "attempts": attempts,
        "finished_at": result.at,
        "recorded_at": recorded_at,
    }


def dead_letter_row(prefix: str, entry_id: str, fields: dict[bytes, bytes]) -> Row | None:
    try:
        letter = DeadLetter.model_validate(decode_entry(fields))
    except (BadEntry, ValidationError):
        return None
    at = letter.at if letter.at.tzinfo is not None else letter.at.replace(tzinfo=UTC)
    return {
        "prefix": prefix,
        "id": entry_id,
        "reason": letter.reason.value,
        "detail": letter.detail,
        "stage": letter.stage,
        "item_id": letter.item_id,
        "agency": letter.agency,
        "platform": letter.platform,
        "action": letter.action.value if letter.action else None,
        "delivery_id": letter.delivery.id if letter.delivery else None,
        "attempts": letter.attempts,
        "letter": letter.model_dump(mode="json", exclude_none=True),
        "at": at,
        "status": "open",
    }


METRIC_COLUMNS = ("audience", "impressions", "likes", "reposts", "replies", "quotes", "views")


def snapshot_row(prefix: str, fields: dict[bytes, bytes]) -> Row | None:
    try:
        snapshot = ReachSnapshot.model_validate(decode_entry(fields))
    except (BadEntry, ValidationError):
        return None
    return {
        "prefix": prefix,
        "delivery_id": snapshot.delivery_id,
        "taken_at": snapshot.at,
        "offset_label": snapshot.offset,
        "item_id": snapshot.item_id,
        "agency": snapshot.agency,
        "platform": snapshot.platform,
        "account": snapshot.account,
        **{column: getattr(snapshot, column) for column in METRIC_COLUMNS},
    }


def latest_by(rows: list[Row], key: tuple[str, ...], order: str) -> list[Row]:
    """One row per key, the one with the greatest `order` (one INSERT may not touch a row twice)."""
    chosen: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        identity = tuple(row[name] for name in key)
        if identity not in chosen or row[order] > chosen[identity][order]:
            chosen[identity] = row
    return list(chosen.values())


def _moment(text: Any) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def approval_row(prefix: str, fields: dict[bytes, bytes]) -> Row | None:
    """An approval's change of state (`hamafza:approvals`, written by services.governance)."""
    try:
        event = decode_entry(fields)
        requested = _moment(event["requested_at"])
        if requested is None:
            return None
        return {
            "prefix": prefix,
            "id": str(event["id"]),
            "item_id": str(event["item_id"]),
            "partner": str(event["partner"]),
            "origin_agency": str(event["origin_agency"]),
            "network": str(event["network"]),
            "platforms": ",".join(event.get("platforms") or []),
            "state": str(event["state"]),
            "requested_at": requested,
            "expires_at": _moment(event.get("expires_at")),
            "decided_by": event.get("decided_by"),
            "decided_at": _moment(event.get("decided_at")),
            # decided beats waiting; among waiting events, the one that lists more platforms
            "order": (event["state"] != "awaiting_approval", len(event.get("platforms") or [])),
        }
    except (BadEntry, KeyError, TypeError, ValueError):
        return None
