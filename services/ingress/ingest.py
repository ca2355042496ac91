"""Accepting an item from HTTP, a webhook or a feed: one atomic claim, record and XADD per item id.

Publishing an accepted item is exactly what an agency's `XADD hamafza:items * data '<json>'` does,
so fan-out, the ledger and item-id idempotency apply unchanged. One Lua script makes acceptance
atomic: it claims the item id for the agency (`services.pipeline.ownership`: the same owner key the
stream path claims), remembers a webhook delivery id, records the item and XADDs, all or nothing,
so a replay or a retried request never adds a second stream entry and no agency takes another's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import Any

from redis.asyncio import Redis

from schemas import Item
from services.keys import Keys
from services.logs import get_logger
from services.pipeline.ownership import CLAIM_LUA
from services.runtime import encode, epoch_ms, loads_bounded, now

log = get_logger("hamafza.ingest")

DEDUPE_TTL_SECONDS = 7 * 24 * 3600  # Standard Webhooks retry for ~75 h; keep delivery ids longer
RECORD_TTL_SECONDS = 90 * 24 * 3600

# KEYS: owner, ingest record, dedupe key, items stream, fan-out's item hash.
# ARGV: agency, item id, item json, digest, now ms, dedupe ttl ms, use dedupe (1/0), source, record ttl ms.
# Returns {verdict, id}: accepted | duplicate (nothing published) | mismatch (same delivery id, other
# body) | conflict (the id belongs to another agency) | reserved (an unclaimed `e<entry id>`).
_ACCEPT = (
    """
if ARGV[7] == '1' then
  local seen = redis.call('HMGET', KEYS[3], 'id', 'digest')
  if seen[1] then
    if seen[2] ~= ARGV[4] then return {'mismatch', seen[1]} end
    return {'duplicate', seen[1]}
  end
end
-- Items accepted or fanned out before owners were kept name their agency in their records.
local known = redis.call('GET', KEYS[1]) or redis.call('HGET', KEYS[2], 'agency')
  or redis.call('HGET', KEYS[5], 'agency')
if known and known ~= ARGV[1] then return {'conflict', ARGV[2]} end
if not known and string.match(ARGV[2], '^e%d+%-%d+$') then return {'reserved', ARGV[2]} end
"""
    + CLAIM_LUA.format(key="KEYS[1]", agency="ARGV[1]")
    + """
local verdict = 'duplicate'
if not known then
  redis.call('HSET', KEYS[2], 'agency', ARGV[1], 'item', ARGV[3], 'received_ms', ARGV[5], 'source', ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
  redis.call('XADD', KEYS[4], '*', 'data', ARGV[3])
  verdict = 'accepted'
end
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[3], 'id', ARGV[2], 'digest', ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
return {verdict, ARGV[2]}
"""
)


def sha256(text: str) -> str:
    return _sha256(text.encode()).hexdigest()


class Refused(Exception):
    """An item that cannot be accepted, with the HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# What each refusal says; none names the agency that holds an id.
TAKEN = "this item id is already in use; choose another id (or send none)"
RESERVED = "ids of the form e<stream entry id> are given by the items stream; choose another id"
REUSED = "this delivery id was already used with a different body"


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool


class Ingest:
    """Publishes items from HTTP, webhooks and feeds: one atomic XADD per item id, ever."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(_ACCEPT)

    async def accept(
        self, item: Item, *, source: str, dedupe: tuple[str, str] | None = None, digest: str = ""
    ) -> Accepted:
        """Publish `item` (its id set) unless its id or `dedupe` = (scope, key) was seen for its agency."""
        assert item.id is not None
        keys = self.keys
        dedupe_key = (
            keys.ingest_seen(item.agency, dedupe[0], sha256(dedupe[1]))
            if dedupe
            else keys.ingest_item(item.id)
        )
        raw: Any = await self._script(
            keys=[
                keys.owner(item.id),
                keys.ingest_item(item.id),
                dedupe_key,
                keys.items,
                keys.item(item.id),
            ],
            args=[
                item.agency,
                item.id,
                encode(item)["data"],
                digest,
                epoch_ms(now()),
                DEDUPE_TTL_SECONDS * 1000,
                "1" if dedupe else "0",
                source,
                RECORD_TTL_SECONDS * 1000,
            ],
        )
        verdict, item_id = (part.decode() if isinstance(part, bytes) else str(part) for part in raw)
        refusal = {"conflict": (409, TAKEN), "reserved": (422, RESERVED), "mismatch": (422, REUSED)}
        if verdict in refusal:
            log.warning("ingest.refused", agency=item.agency, source=source, verdict=verdict)
            raise Refused(*refusal[verdict])
        accepted = Accepted(item_id, duplicate=verdict == "duplicate")
        log.info(
            "ingest.duplicate" if accepted.duplicate else "ingest.accepted",
            item_id=item_id,
            agency=item.agency,
            source=source,
        )
        return accepted

    async def owner(self, item_id: str) -> str | None:
        """The agency that owns an item id, whichever path used it first."""
        keys = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.owner(item_id))
            pipe.hget(keys.ingest_item(item_id), "agency")
            pipe.hget(keys.item(item_id), "agency")
            found: list[Any] = await pipe.execute()
        owner = next((value for value in found if value), None)
        return owner.decode() if isinstance(owner, bytes) else owner

    async def item_of(self, item_id: str) -> tuple[dict[str, Any] | None, int | None]:
        """The item as published (through ingress, or the stored fields of a plain XADD) and when."""
        record: Any = await self.redis.hgetall(self.keys.ingest_item(item_id))
        if record:
            fields = {k.decode(): v.decode() for k, v in record.items()}
            return loads_bounded(fields["item"]), int(fields.get("received_ms", "0"))
        seen: Any = await self.redis.hgetall(self.keys.item(item_id))
        if seen:
            fields = {k.decode(): v.decode() for k, v in seen.items()}
            item = {"id": item_id, "agency": fields.get("agency"), "text": fields.get("text")}
            return item, int(fields.get("received_ms", "0")) or None
        return None, None
