"""Daily caps: how many amplifications one account sends per Tehran day, counted across processes.

Each account and Tehran day has a set of the amplification delivery ids it sent; one Lua script
checks and adds, so a redelivered amplification counts once and two workers never both take the last
place. The set expires two days after its day.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from schemas import Delivery
from services.config import Network
from services.governance.policy import tehran_day
from services.keys import Keys

# KEYS: the account's set for the day.  ARGV: delivery id, cap, expiry seconds.  1 if it may go.
_TAKE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def cap_for(network: Network, delivery: Delivery) -> int | None:
    """The amplifying account's daily cap: the partner's own, else the network's; None for no cap."""
    if delivery.network is None or delivery.network not in network.file.networks:
        return None
    policy = network.file.networks[delivery.network].policy
    own = policy.for_partner(delivery.agency).daily_cap
    return own if own is not None else policy.daily_cap


class DailyCaps:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self._take = redis.register_script(_TAKE)

    async def take(self, delivery: Delivery, cap: int, moment: datetime) -> bool:
        """Whether the account may send this amplification today; counts it if so."""
        key = self.keys.amplification_cap(delivery.platform, delivery.agency, tehran_day(moment).isoformat())
        return bool(await self._take(keys=[key], args=[delivery.id, cap, 2 * 24 * 3600]))
