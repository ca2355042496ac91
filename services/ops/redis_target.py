"""Which Redis: one server (`redis://…`) or a Sentinel-managed primary (`redis+sentinel://…`).

- `redis://[:password@]host:port/db` — one server, as before.
- `redis+sentinel://[:password@]sentinel1:26379,sentinel2:26379/<master-name>[/db]` — the sentinels
  are asked which server is the primary, on every (re)connect, so a failover moves every client
  (workers, the broker, the budget, the CLI) to the promoted replica. The same with a plain
  `REDIS_URL` plus `HAMAFZA_REDIS_SENTINELS=host:port,…` and `HAMAFZA_REDIS_MASTER=<name>`.

Replication is asynchronous, so a failover can lose the last writes. What must survive is the
ledger's claim (it is what keeps a delivery from being posted twice): see `HAMAFZA_CLAIM_REPLICAS`
in `services.pipeline.ledger`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from faststream.redis import RedisBroker, RedisSentinelBroker
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel pool that makes callers wait for a free connection instead of raising
    (see `services.app.build_runtime` for why a worker needs that)."""


@dataclass(frozen=True)
class RedisTarget:
    url: str  # as given (for a plain server, what redis-py and FastStream take)
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    db: int = 0
    password: str | None = None
    username: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> RedisTarget:
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        if parts.scheme in SENTINEL_SCHEMES:
            hosts = parts.netloc.rpartition("@")[2]
            path = [segment for segment in parts.path.split("/") if segment]
            if not path:
                raise ValueError(
                    f"{cls.safe(url)}: name the master: redis+sentinel://host:26379/<master>[/db]"
                )
            return cls(
                url=url,
                sentinels=_hosts(hosts, 26379),
                master=path[0],
                db=int(path[1]) if len(path) > 1 else 0,
                password=unquote(parts.password) if parts.password else None,
                username=unquote(parts.username) if parts.username else None,
            )
        sentinels = env.get("HAMAFZA_REDIS_SENTINELS", "").strip()
        if sentinels:
            path = [segment for segment in parts.path.split("/") if segment]
            return cls(
                url=url,
                sentinels=_hosts(sentinels, 26379),
                master=env.get("HAMAFZA_REDIS_MASTER", "hamafza"),
                db=int(path[0]) if path else 0,
                password=unquote(parts.password) if parts.password else None,
                username=unquote(parts.username) if parts.username else None,
            )
        return cls(url=url)

    @staticmethod
    def safe(url: str) -> str:
        """The URL without its password, for logs and messages."""
        parts = urlsplit(url)
        if parts.password is None:
            return url
        hosts = parts.netloc.rpartition("@")[2]
        user = parts.username or ""
        return parts._replace(netloc=f"{user}:***@{hosts}").geturl()

    def describe(self) -> str:
        if self.is_sentinel:
            hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"Sentinel {hosts}, master {self.master}, db {self.db}"
        return self.safe(self.url)

    def _auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {}
        if self.password is not None:
            auth["password"] = self.password
        if self.username is not None:
            auth["username"] = self.username
        return auth

    def client(self, max_connections: int = 100, timeout: float = 30.0, **options: Any) -> Redis:
        """An asyncio client whose pool waits for a free connection (and follows failovers)."""
        if not self.is_sentinel:
            pool = BlockingConnectionPool.from_url(
                self.url, max_connections=max_connections, timeout=timeout, **options
            )
            return Redis.from_pool(pool)
        assert self.master is not None
        manager = Sentinel(list(self.sentinels), db=self.db, **self._auth(), **options)  # type: ignore[no-untyped-call]
        client: Redis = manager.master_for(
            self.master,
            connection_pool_class=BlockingSentinelConnectionPool,
            max_connections=max_connections,
            timeout=timeout,
        )
        return client

    def simple_client(self, **options: Any) -> Redis:
        """A short-lived client for the CLI and tests."""
        if not self.is_sentinel:
            return Redis.from_url(self.url, **options)
        assert self.master is not None
        manager = Sentinel(list(self.sentinels), db=self.db, **self._auth(), **options)  # type: ignore[no-untyped-call]
        client: Redis = manager.master_for(self.master)
        return client

    def broker(self, **options: Any) -> RedisBroker:
        if not self.is_sentinel:
            return RedisBroker(self.url, **options)
        assert self.master is not None
        return RedisSentinelBroker(
            f"redis://localhost:6379/{self.db}",  # only its db and credentials are used
            sentinels=list(self.sentinels),
            sentinel_master_name=self.master,
            db=self.db,
            **self._auth(),
            **options,
        )


def _hosts(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for part in text.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host:
            host, port = port, str(default_port)
        hosts.append((host, int(port)))
    return tuple(hosts)
