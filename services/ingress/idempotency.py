"""`Idempotency-Key` as draft-ietf-httpapi-idempotency-key-header says.

- The first request with a key is recorded as *in progress* (with the fingerprint of its body),
  then as *done* with its response once it has one.
- The same key with the same body → the first response, replayed (status and body).
- The same key with a different body → 422 ("Idempotency-Key is already used with a different body").
- The same key while the first request is still in progress → 409 (retry later).
- A first request that ends in an error keeps no record, so the client may correct and retry.

Keys are per agency and kept 7 days; an in-progress record expires on its own after a minute, so a
process that died mid-request never blocks its key for longer than that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.ingress.ingest import Refused
from services.keys import Keys

KEPT_SECONDS = 7 * 24 * 3600
IN_PROGRESS_SECONDS = 60
SCOPE = "idempotency"

# KEYS: the key's record.  ARGV: fingerprint, in-progress ttl ms.
# Returns {'new'} | {'mismatch'} | {'in_progress'} | {'done', status, body}.
_BEGIN = """
local seen = redis.call('HMGET', KEYS[1], 'state', 'digest', 'status', 'body')
if seen[1] then
  if seen[2] ~= ARGV[1] then return {'mismatch'} end
  if seen[1] ~= 'done' then return {'in_progress'} end
  return {'done', seen[3], seen[4]}
end
redis.call('HSET', KEYS[1], 'state', 'in_progress', 'digest', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'new'}
"""

MISMATCH = "this Idempotency-Key was already used with a different body; use a new key"
IN_PROGRESS = "a request with this Idempotency-Key is still in progress; retry in a moment"


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    replayed: bool = False


Produce = Callable[[], Awaitable[Response]]


class IdempotencyKeys:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._begin = redis.register_script(_BEGIN)

    def key(self, agency: str, idempotency_key: str) -> str:
        return self.keys.ingest_seen(agency, SCOPE, hashlib.sha256(idempotency_key.encode()).hexdigest())

    async def begin(self, agency: str, idempotency_key: str, digest: str) -> Response | None:
        """None: this request is the first and goes ahead; else the first request's response.
        Raises Refused (422 or 409) for a reused key with another body, or one still in progress."""
        raw: Any = await self._begin(
            keys=[self.key(agency, idempotency_key)], args=[digest, IN_PROGRESS_SECONDS * 1000]
        )
        verdict, *rest = (part.decode() if isinstance(part, bytes) else str(part) for part in raw)
        if verdict == "mismatch":
            raise Refused(422, MISMATCH)
        if verdict == "in_progress":
            raise Refused(409, IN_PROGRESS)
        if verdict == "done":
            status, body = rest
            return Response(int(status), json.loads(body), replayed=True)
        return None

    async def finish(self, agency: str, idempotency_key: str, response: Response) -> None:
        key = self.key(agency, idempotency_key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={"state": "done", "status": response.status, "body": json.dumps(response.body)}
            )
            pipe.expire(key, KEPT_SECONDS)
            await pipe.execute()

    async def forget(self, agency: str, idempotency_key: str) -> None:
        await self.redis.delete(self.key(agency, idempotency_key))

    async def once(self, agency: str, idempotency_key: str | None, digest: str, produce: Produce) -> Response:
        """`produce()`'s response, made at most once per (agency, key); replayed after that."""
        if idempotency_key is None:
            return await produce()
        first = await self.begin(agency, idempotency_key, digest)
        if first is not None:
            return first
        try:
            response = await produce()
        except BaseException:
            await self.forget(agency, idempotency_key)
            raise
        await self.finish(agency, idempotency_key, response)
        return response
