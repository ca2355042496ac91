"""A schedule: delayed stream entries in one Redis sorted set, released onto their streams when due.

Every kind of delayed work has one (`Keys.schedules`): deliveries (`publish_at`, retries, partners'
delays, rate-limit pauses) and reach snapshot requests. A member is `{"stream": s, "data": json}`
scored by when it is due (epoch ms); adding goes into the caller's pipeline, so it commits with the
caller's other writes (the acknowledgement above all). Release is one Lua script, so any number of
schedulers may run side by side, and work survives restarts because it never lives in a timer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from redis.exceptions import NoScriptError

from services.runtime import epoch_ms, loads_bounded, now

# Moves due entries onto their streams; atomic, so any number of schedulers may run.
# KEYS: schedule, dead stream.  ARGV: now ms, max entries, now as ISO text.
# A member that does not parse goes to the dead letters instead of blocking every later entry.
_RELEASE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local ok, entry = pcall(cjson.decode, member)
  if ok and type(entry) == 'table' and type(entry['stream']) == 'string' and type(entry['data']) == 'string' then
    redis.call('XADD', entry['stream'], '*', 'data', entry['data'])
  else
    local letter = cjson.encode({reason = 'poison', stage = 'scheduler', at = ARGV[3],
      detail = 'a scheduled entry that is not {stream, data} JSON', entry = string.sub(member, 1, 500)})
    redis.call('XADD', KEYS[2], '*', 'data', letter)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""
_RELEASE_SHA = hashlib.sha1(_RELEASE_DUE.encode()).hexdigest()
RELEASE_BATCH = 500


@dataclass(frozen=True)
class Schedule:
    key: str  # the sorted set, built in services/keys.py

    @staticmethod
    def member(stream: str, model: BaseModel) -> str:
        """The same model for the same stream is the same member, so scheduling twice is harmless."""
        return json.dumps(
            {"stream": stream, "data": model.model_dump_json(exclude_none=True)}, sort_keys=True
        )

    def add(self, pipe: Any, stream: str, model: BaseModel, due: datetime) -> None:
        """Queue `model` for `stream` at `due`, inside the caller's pipeline or transaction."""
        pipe.zadd(self.key, {self.member(stream, model): epoch_ms(due)})

    async def release_due(self, redis: Any, dead_letters: str, limit: int = RELEASE_BATCH) -> int:
        """Move up to `limit` due entries onto their streams; returns how many."""
        moment = now()
        keys_and_args = (2, self.key, dead_letters, epoch_ms(moment), limit, moment.isoformat())
        try:
            released = await redis.evalsha(_RELEASE_SHA, *keys_and_args)
        except NoScriptError:  # a restarted Redis forgot the script
            released = await redis.eval(_RELEASE_DUE, *keys_and_args)
        return int(released)

    async def size(self, redis: Any) -> int:
        return int(await redis.zcard(self.key))

    async def bring_forward(self, redis: Any, stream: str, wanted: Callable[[dict[str, Any]], bool]) -> int:
        """Make every future entry for `stream` whose data `wanted` accepts due now; returns how many."""
        due_now = epoch_ms(now())
        moved = 0
        members: Any = await redis.zrangebyscore(self.key, due_now, "+inf")
        for member in members:
            try:  # a member no scheduler could release (the release dead-letters it) is skipped
                entry = loads_bounded(member)
                data = (
                    loads_bounded(entry["data"])
                    if isinstance(entry, dict) and entry.get("stream") == stream
                    else None
                )
            except (ValueError, TypeError, KeyError):
                continue
            if not isinstance(data, dict) or not wanted(data):
                continue
            # XX: only if still scheduled; a scheduler may have released it meanwhile.
            moved += int(await redis.zadd(self.key, {member: due_now}, xx=True, ch=True) or 0)
        return moved
