"""Reading the report's rows from Redis: the results stream, the item records, the reach records, the
approvals stream and the council's notes.

The only part of the report that knows where the data lives; `compute` gets `Rows` and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from schemas import Action, DeliveryState, Result
from services.keys import Keys
from services.reach.report.model import (
    ApprovalRow,
    AudiencePoint,
    FailureRow,
    ItemRow,
    Note,
    PostRow,
    Rows,
    Snapshot,
)
from services.reach.snapshots import audiences, latest_snapshots
from services.runtime import decode_entry


async def read_rows(redis: Any, keys: Keys) -> Rows:
    posted, dead = await _results(redis, keys)
    records = await _item_records(redis, keys, {r.delivery.item_id for r in [*posted, *dead]})
    items: dict[str, _Item] = {}
    for item_id, record in records.items():
        if not record:
            continue
        received_ms = record.get("received_ms")
        items[item_id] = _Item(
            item_id=item_id,
            agency=record.get("agency", ""),
            campaign=record.get("campaign") or None,
            text=record.get("text", ""),
            received=datetime.fromtimestamp(int(received_ms) / 1000, UTC) if received_ms else None,
        )
    for result in sorted([*posted, *dead], key=lambda r: r.at):
        delivery = result.delivery
        item = items.get(delivery.item_id)
        if item is None:
            # An item whose record is gone (or never kept): rebuilt from its deliveries.
            item = items[delivery.item_id] = _Item(
                item_id=delivery.item_id,
                agency=delivery.origin_agency,
                campaign=delivery.campaign,
                text=delivery.text if delivery.action is Action.PUBLISH else "",
                received=result.at,
            )
        if result.state is DeliveryState.POSTED:
            item.posts.append(
                PostRow(
                    delivery_id=delivery.id,
                    agency=delivery.agency,
                    origin_agency=delivery.origin_agency,
                    platform=delivery.platform,
                    action=delivery.action.value,
                    at=result.at,
                )
            )
        else:
            item.failures.append(FailureRow(delivery_id=delivery.id, agency=delivery.agency))
    reach_keys = keys.reach
    snapshots = {
        delivery_id: Snapshot(
            audience=snapshot.audience,
            impressions=snapshot.impressions,
            likes=snapshot.likes,
            reposts=snapshot.reposts,
            replies=snapshot.replies,
            quotes=snapshot.quotes,
        )
        for delivery_id, snapshot in (await latest_snapshots(redis, reach_keys)).items()
    }
    return Rows(
        items=tuple(item.row() for item in items.values()),
        snapshots=snapshots,
        audiences=await audiences(redis, reach_keys),
        approvals=await read_approvals(redis, keys),
        notes=await read_notes(redis, keys),
        audience_history=await read_audience_history(redis, keys),
    )


async def read_audience_history(redis: Any, keys: Keys) -> tuple[AudiencePoint, ...]:
    """Every account audience the reach snapshots saw, oldest first (for followers over time)."""
    points: list[AudiencePoint] = []
    start = "-"
    while True:
        batch: Any = await redis.xrange(keys.reach.snapshots, min=start, count=1000)
        if not batch:
            break
        for _entry_id, fields in batch:
            try:
                data = decode_entry(fields)
                if data.get("audience") is None:
                    continue
                points.append(
                    AudiencePoint(
                        platform=str(data["platform"]),
                        agency=str(data["agency"]),
                        at=datetime.fromisoformat(str(data["at"])),
                        audience=int(data["audience"]),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        start = _after(batch[-1][0])
    return tuple(points)


async def read_approvals(redis: Any, keys: Keys) -> tuple[ApprovalRow, ...]:
    """The latest state of every approval and intent in the approvals stream (a later entry wins)."""
    latest: dict[tuple[str, str], ApprovalRow] = {}
    start = "-"
    while True:
        batch: Any = await redis.xrange(keys.approvals_events, min=start, count=1000)
        if not batch:
            break
        for _entry_id, fields in batch:
            try:
                data = decode_entry(fields)
                kind = str(data.get("kind") or "approval")
                row = ApprovalRow(
                    approval_id=str(data["id"]),
                    item_id=str(data["item_id"]),
                    partner=str(data.get("partner", "")),
                    origin_agency=str(data.get("origin_agency", "")),
                    state=str(data["state"]),
                    kind=kind,
                )
            except (KeyError, TypeError, ValueError):
                continue
            latest[(kind, row.approval_id)] = row
        start = _after(batch[-1][0])
    return tuple(latest.values())


async def read_notes(redis: Any, keys: Keys) -> dict[str, Note]:
    raw: dict[bytes, bytes] = await redis.hgetall(keys.report_notes)
    notes: dict[str, Note] = {}
    for campaign, value in raw.items():
        try:
            data = json.loads(value)
            note = Note(campaign.decode(), str(data["text"]), datetime.fromisoformat(data["at"]))
        except (KeyError, TypeError, ValueError):
            continue
        notes[note.campaign] = note
    return notes


async def write_note(redis: Any, keys: Keys, campaign: str, text: str, at: datetime) -> Note:
    """Store the council's note on a campaign (the latest replaces an earlier one)."""
    note = Note(campaign, text, at)
    await redis.hset(
        keys.report_notes, campaign, json.dumps({"text": text, "at": at.isoformat()}, ensure_ascii=False)
    )
    return note


def _after(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    milliseconds, _, sequence = text.partition("-")
    return f"{milliseconds}-{int(sequence or 0) + 1}"


@dataclass
class _Item:
    item_id: str
    agency: str
    campaign: str | None
    text: str
    received: datetime | None
    posts: list[PostRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)

    def row(self) -> ItemRow:
        return ItemRow(
            item_id=self.item_id,
            agency=self.agency,
            campaign=self.campaign,
            text=self.text,
            received=self.received,
            posts=tuple(self.posts),
            failures=tuple(self.failures),
        )


async def _results(redis: Any, keys: Keys) -> tuple[list[Result], list[Result]]:
    """Posted and dead results, one per delivery (a later one of the same delivery wins; posted beats dead)."""
    posted: dict[str, Result] = {}
    dead: dict[str, Result] = {}
    start = "-"
    while True:
        batch: Any = await redis.xrange(keys.results, min=start, count=1000)
        if not batch:
            break
        for _entry_id, fields in batch:
            try:
                result = Result.model_validate(decode_entry(fields))
            except (ValueError, ValidationError):
                continue
            if result.state is DeliveryState.POSTED and result.post is not None:
                posted[result.delivery.id] = result
                dead.pop(result.delivery.id, None)
            elif result.state is DeliveryState.DEAD and result.delivery.id not in posted:
                dead[result.delivery.id] = result
        start = _after(batch[-1][0])
    return list(posted.values()), list(dead.values())


async def _item_records(redis: Any, keys: Keys, item_ids: set[str]) -> dict[str, dict[str, str]]:
    indexed: Any = await redis.zrange(keys.item_index, 0, -1)
    ids = sorted(item_ids | {member.decode() for member in indexed})
    async with redis.pipeline(transaction=False) as pipe:
        for item_id in ids:
            pipe.hgetall(keys.item(item_id))
        rows: list[dict[bytes, bytes]] = await pipe.execute()
    return {
        item_id: {k.decode(): v.decode() for k, v in row.items()}
        for item_id, row in zip(ids, rows, strict=True)
    }
