"""Each account's write budget, shared by every worker process through Redis.

Seeded with each platform's published limit (`Adapter.rate_limit`) and overridable per platform in
the network file, so Hamafza slows itself down before the platform has to say 429. The moving
window and its Lua scripts are the maintained `limits` library's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from adapters import Adapter
from schemas import Delivery
from services.config import Network
from services.keys import Keys


class AccountBudget:
    def __init__(
        self, redis: Redis, redis_url: str, prefix: str, adapters: dict[str, Adapter[Any]], network: Network
    ) -> None:
        self._limits: dict[str, RateLimitItem] = {}
        for platform, adapter in adapters.items():
            settings = network.file.platforms.get(platform)
            configured = settings.rate_limit if settings is not None else None
            chosen = configured if configured is not None else adapter.rate_limit
            if chosen is not None and chosen.strip().lower() != "none":
                self._limits[platform] = parse(chosen)
        # The workers' own (blocking) pool: a private one would run out of connections under load.
        storage = RedisStorage(
            # Only the scheme matters: the connection pool given is used (also a Sentinel one).
            "async+redis://",
            implementation="redispy",
            key_prefix=Keys(prefix).budget_prefix,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def take(self, delivery: Delivery) -> datetime | None:
        """Spend one unit of the account's budget; None if granted, else when to try again."""
        limit = self._limits.get(delivery.platform)
        if limit is None:
            return None
        if await self._limiter.hit(limit, delivery.platform, delivery.agency):
            return None
        stats = await self._limiter.get_window_stats(limit, delivery.platform, delivery.agency)
        return datetime.fromtimestamp(stats.reset_time, tz=UTC)
