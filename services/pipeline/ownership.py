"""One owner per item id, on every path: the first agency to use an id owns it.

The claim is one atomic step in Redis (`Keys.owner`), taken by fan-out for stream items (ids given
or derived as `e<entry id>`) and by the ingress for HTTP, webhooks and feeds inside the script
that accepts the item. The owner key has no expiry: it goes when the item's data goes (retention),
never before, so an id whose HTTP record expired is still its first agency's.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.keys import Keys

# Lua, inlined by every script that claims: KEYS[owner_key], ARGV[agency] → `owner` is the owner after.
CLAIM_LUA = """
local owner = redis.call('GET', {key})
if not owner then
  redis.call('SET', {key}, {agency})
  owner = {agency}
end
"""

_CLAIM = CLAIM_LUA.format(key="KEYS[1]", agency="ARGV[1]") + "return owner"


class Ownership:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, item_id: str, agency: str) -> bool:
        """Whether `agency` owns `item_id` now: it did already, or it is the first to use it."""
        owner: Any = await self._claim(keys=[self.keys.owner(item_id)], args=[agency])
        return bool((owner.decode() if isinstance(owner, bytes) else str(owner)) == agency)
