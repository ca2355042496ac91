"""Reading back what happened: an item's deliveries, dead letters, and whether work is still in flight."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from schemas import DeadLetter
from services.keys import Keys
from services.runtime import decode_entry, entry_id_order


@dataclass(frozen=True)
class DeliveryStatus:
    delivery_id: str
    item_id: str
    agency: str
    platform: str
    action: str
    state: str
    post_id: str | None
    url: str | None
    reason: str | None
    attempts: int
    decided_by: str | None = None  # an amplification held for approval: who decided, and when
    decided_at: str | None = None


async def item_deliveries(redis: Redis, keys: Keys, item_id: str) -> list[DeliveryStatus]:
    members: Any = await redis.smembers(keys.item_deliveries(item_id))
    ids = sorted(member.decode() for member in members)
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in ids:
            pipe.hgetall(keys.ledger(delivery_id))
        rows: list[dict[bytes, bytes]] = await pipe.execute()
    # Amplifications not yet in the ledger may be held for approval: their state is the approval's.
    approvals: dict[str, dict[str, str]] = {}
    waiting = [d for d, row in zip(ids, rows, strict=True) if not row]
    if waiting:
        async with redis.pipeline(transaction=False) as pipe:
            for delivery_id in waiting:
                _, agency, _, _ = delivery_id.rsplit("/", 3)
                pipe.hmget(keys.approval(f"{item_id}.{agency}"), ["state", "decided_by", "decided_at"])
            found: list[list[bytes | None]] = await pipe.execute()
        for delivery_id, (state, by, at) in zip(waiting, found, strict=True):
            if state is not None:
                approvals[delivery_id] = {
                    "state": state.decode(),
                    "decided_by": by.decode() if by else "",
                    "decided_at": at.decode() if at else "",
                }
    statuses = []
    for delivery_id, row in zip(ids, rows, strict=True):
        fields = {k.decode(): v.decode() for k, v in row.items()} or approvals.get(delivery_id, {})
        item, agency, platform, action = delivery_id.rsplit("/", 3)
        statuses.append(
            DeliveryStatus(
                delivery_id=delivery_id,
                item_id=item,
                agency=agency,
                platform=platform,
                action=action,
                state=fields.get("state", "scheduled"),
                post_id=fields.get("post_id") or None,
                url=fields.get("url") or None,
                reason=fields.get("reason") or None,
                attempts=int(fields.get("attempts", "0")),
                decided_by=fields.get("decided_by") or None,
                decided_at=fields.get("decided_at") or None,
            )
        )
    return statuses


async def dead_letters(redis: Redis, keys: Keys, count: int | None = None) -> list[tuple[str, DeadLetter]]:
    entries: Any = await redis.xrange(keys.dead, count=count)
    return [
        (entry_id.decode(), DeadLetter.model_validate(decode_entry(fields))) for entry_id, fields in entries
    ]


async def outstanding_work(redis: Redis, keys: Keys, streams: list[tuple[str, str]]) -> dict[str, Any]:
    """Entries not yet read or not yet acknowledged per group, and delayed entries: zero means idle."""
    unread = 0
    pending = 0
    for stream, group in streams:
        if not await redis.exists(stream):
            continue
        last: Any = await redis.xrevrange(stream, count=1)
        for info in await redis.xinfo_groups(stream):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != group:
                continue
            pending += int(info["pending"])
            delivered = info["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else delivered
            if last and entry_id_order(last[0][0].decode()) > entry_id_order(delivered):
                unread += 1
    scheduled = int(await redis.zcard(keys.schedule))
    return {
        "unread_streams": unread,
        "pending": pending,
        "scheduled": scheduled,
        "idle": unread == 0 and pending == 0 and scheduled == 0,
    }
