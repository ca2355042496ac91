"""Approvals: a partner's amplifications of one item, held until its approver decides or time runs out.

One approval per item and partner covers every platform the partner would amplify the item on: the
first posted result creates it (and the request to the approver), later ones add their deliveries to
it while it waits, or go straight to the schedule once it is approved. Every change of state is one
Lua script, so two presses, two workers or a press racing the expiry give exactly one decision; held
deliveries stay in Redis until they are scheduled, so a crash between the decision and the
scheduling loses nothing (the sweeper schedules what an approved approval still holds).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from schemas import Delivery
from services.keys import Keys
from services.runtime import epoch_ms, text


class ApprovalState(StrEnum):
    AWAITING = "awaiting_approval"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


# What the HTTP API and the CLI call the states people filter by.
STATE_FILTERS: dict[str, ApprovalState] = {
    "pending": ApprovalState.AWAITING,
    **{state.value: state for state in ApprovalState},
}


class HoldOutcome(StrEnum):
    CREATED = "created"  # a new approval: ask the approver
    HELD = "held"  # added to one that is still waiting
    APPROVED = "approved"  # already approved: schedule it now
    CLOSED = "closed"  # declined or expired: never amplified


@dataclass(frozen=True)
class Approval:
    id: str
    item_id: str
    partner: str
    origin_agency: str
    network: str
    approver_platform: str
    approver_chat: str
    state: ApprovalState
    requested_at: str
    expires_at: str
    code: str
    platforms: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: str | None = None
    request_message: str | None = None

    @staticmethod
    def make_id(item_id: str, partner: str) -> str:
        # Partners are slugs, which have no dots, so the id splits back at its last dot.
        return f"{item_id}.{partner}"

    @staticmethod
    def make_code(approval_id: str) -> str:
        """A short handle for buttons: Telegram's callback data holds at most 64 bytes."""
        return hashlib.sha256(approval_id.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "partner": self.partner,
            "origin_agency": self.origin_agency,
            "network": self.network,
            "platforms": list(self.platforms),
            "state": self.state.value,
            "approver": {"platform": self.approver_platform, "chat_id": self.approver_chat},
            "requested_at": self.requested_at,
            "expires_at": self.expires_at,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
        }


@dataclass(frozen=True)
class Decision:
    """What a decide call did: `changed` is False when it was already decided (by `state`'s decider)."""

    approval: Approval | None
    changed: bool


# KEYS: approval hash, held hash, agency index, expiry index, code key.
# ARGV: delivery id, scheduled member, requested epoch ms, expires epoch ms, approval id, platform,
#       then the new approval's field/value pairs.
_HOLD = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  local fields = {}
  for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HSET', KEYS[1], 'state', 'awaiting_approval', 'platforms', ARGV[6])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[5])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
  redis.call('SET', KEYS[5], ARGV[5])
  return 'created'
end
if state == 'awaiting_approval' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  local platforms = redis.call('HGET', KEYS[1], 'platforms') or ''
  local found = false
  for p in string.gmatch(platforms, '[^,]+') do if p == ARGV[6] then found = true end end
  if not found then
    if platforms == '' then platforms = ARGV[6] else platforms = platforms .. ',' .. ARGV[6] end
    redis.call('HSET', KEYS[1], 'platforms', platforms)
  end
  return 'held'
end
if state == 'approved' then return 'approved' end
return 'closed'
"""

# KEYS: approval hash, expiry index, releasing set.  ARGV: new state, decided by, decided at, id.
_DECIDE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= 'awaiting_approval' then return 'unchanged' end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'decided_by', ARGV[2], 'decided_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
if ARGV[1] == 'approved' then redis.call('SADD', KEYS[3], ARGV[4]) end
return 'changed'
"""


class Approvals:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._hold = redis.register_script(_HOLD)
        self._decide = redis.register_script(_DECIDE)

    async def hold(
        self,
        approval: Approval,
        delivery_id: str,
        platform: str,
        member: str,
    ) -> HoldOutcome:
        """Add one planned amplification to its approval, creating the approval if it is the first."""
        fields = {
            "item_id": approval.item_id,
            "partner": approval.partner,
            "origin_agency": approval.origin_agency,
            "network": approval.network,
            "approver_platform": approval.approver_platform,
            "approver_chat": approval.approver_chat,
            "requested_at": approval.requested_at,
            "expires_at": approval.expires_at,
            "code": approval.code,
        }
        pairs = [value for pair in fields.items() for value in pair]
        outcome = await self._hold(
            keys=[
                self.keys.approval(approval.id),
                self.keys.approval_held(approval.id),
                self.keys.approvals_of(approval.partner),
                self.keys.approvals_expiring,
                self.keys.approval_code(approval.code),
            ],
            args=[
                delivery_id,
                member,
                epoch_ms(datetime.fromisoformat(approval.requested_at)),
                epoch_ms(datetime.fromisoformat(approval.expires_at)),
                approval.id,
                platform,
                *pairs,
            ],
        )
        if outcome in (b"created", "created"):
            await self._event(approval.id)
        return HoldOutcome(text(outcome))

    async def decide(self, approval_id: str, state: ApprovalState, by: str, at: datetime) -> Decision:
        """Approve, decline or expire a waiting approval, once: later calls change nothing."""
        outcome = await self._decide(
            keys=[
                self.keys.approval(approval_id),
                self.keys.approvals_expiring,
                self.keys.approvals_releasing,
            ],
            args=[state.value, by, at.isoformat(), approval_id],
        )
        outcome = text(outcome)
        if outcome == "changed":
            await self._event(approval_id)
        return Decision(await self.get(approval_id), changed=outcome == "changed")

    async def note_request(self, approval_id: str, message_id: str) -> None:
        await self.redis.hset(self.keys.approval(approval_id), "request_message", message_id)

    async def get(self, approval_id: str) -> Approval | None:
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.approval(approval_id))
        if not raw or b"state" not in raw:
            return None
        fields = {text(key): text(value) for key, value in raw.items()}
        return Approval(
            id=approval_id,
            item_id=fields["item_id"],
            partner=fields["partner"],
            origin_agency=fields["origin_agency"],
            network=fields["network"],
            approver_platform=fields["approver_platform"],
            approver_chat=fields["approver_chat"],
            state=ApprovalState(fields["state"]),
            requested_at=fields["requested_at"],
            expires_at=fields["expires_at"],
            code=fields["code"],
            platforms=tuple(p for p in fields.get("platforms", "").split(",") if p),
            decided_by=fields.get("decided_by"),
            decided_at=fields.get("decided_at"),
            request_message=fields.get("request_message"),
        )

    async def by_code(self, code: str) -> Approval | None:
        approval_id = await self.redis.get(self.keys.approval_code(code))
        return await self.get(text(approval_id)) if approval_id else None

    async def of_agency(
        self, agency: str, state: ApprovalState | None = None, limit: int = 500
    ) -> list[Approval]:
        """The agency's approvals as the amplifying partner, newest first."""
        ids = await self.redis.zrevrange(self.keys.approvals_of(agency), 0, limit - 1)
        found = [await self.get(text(raw)) for raw in ids]
        return [a for a in found if a is not None and (state is None or a.state is state)]

    async def expiring(self, moment: datetime, limit: int = 100) -> list[str]:
        ids = await self.redis.zrangebyscore(self.keys.approvals_expiring, "-inf", epoch_ms(moment), 0, limit)
        return [text(raw) for raw in ids]

    async def held(self, approval_id: str) -> dict[str, tuple[str, Delivery]]:
        """Delivery id → (scheduled member, delivery) of what the approval still holds."""
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.approval_held(approval_id))
        held: dict[str, tuple[str, Delivery]] = {}
        for key, value in raw.items():
            member = text(value)
            held[text(key)] = (member, Delivery.model_validate_json(json.loads(member)["data"]))
        return held

    async def release(
        self, approval_id: str, scheduled: dict[str, tuple[str, int]], schedule_key: str
    ) -> None:
        """Move held deliveries to the schedule (member → due epoch ms) and forget them, in one MULTI."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for delivery_id, (member, due_ms) in scheduled.items():
                pipe.zadd(schedule_key, {member: due_ms})
                pipe.hdel(self.keys.approval_held(approval_id), delivery_id)
            await pipe.execute()
        if not await self.redis.exists(self.keys.approval_held(approval_id)):
            await self.redis.srem(self.keys.approvals_releasing, approval_id)

    async def drop_held(self, approval_id: str) -> None:
        await self.redis.delete(self.keys.approval_held(approval_id))

    async def _event(self, approval_id: str) -> None:
        """Every approval's change of state, for the records and the report."""
        approval = await self.get(approval_id)
        if approval is not None:
            await self.redis.xadd(
                self.keys.approvals_events, {"data": json.dumps(approval.as_dict(), ensure_ascii=False)}
            )
