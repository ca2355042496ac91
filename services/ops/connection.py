"""One warning when Redis goes away and one line when it is back, instead of a traceback per read.

During a Redis restart every reader of every stream fails each second: FastStream logs "Message
fetch error" at error level with a traceback each time, and our own loops (scheduler, janitor,
handlers) would log theirs. `watch` is the process's one view of the connection:

- `watch.filter` is a `logging.Filter` on the broker's logger: a record carrying a connection error
  becomes `redis.lost` (a warning, once) and is dropped; any other record passes untouched.
- `watch.swallow(error)` does the same for our own `except` blocks: True when the error was the lost
  connection (already reported), so the caller skips its traceback.
- A report first asks Redis (a ping): if it answers, the error was one pooled connection that died
  with an old server (logged at debug); if not, Redis is lost, and the probe pings every half
  second and logs `redis.back` once it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.logs import get_logger

log = get_logger("hamafza.redis")

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
PROBE_SECONDS = 0.5


def is_connection_error(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, CONNECTION_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


class ConnectionWatch(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._redis: Redis | None = None
        self._lost_at: float | None = None
        self._probe: asyncio.Task[None] | None = None

    def bind(self, redis: Redis) -> None:
        """The client the probe pings (the process's own); a fresh start, with nothing lost."""
        if self._probe is not None:
            self._probe.cancel()
        self._redis, self._lost_at, self._probe = redis, None, None

    @property
    def lost(self) -> bool:
        return self._lost_at is not None

    def swallow(self, error: BaseException) -> bool:
        """True if `error` is the lost connection: reported once here, nothing more to log."""
        if not is_connection_error(error):
            return False
        self._report(error)
        return True

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not is_connection_error(error):
            return True
        self._report(error)
        return False

    def _report(self, error: BaseException) -> None:
        if self._probe is not None and not self._probe.done():
            return  # being checked, or known lost and being probed
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: say it now
            loop = None
        if loop is None or self._redis is None:
            self._mark_lost(error)
            return
        self._probe = loop.create_task(self._check(self._redis, error))

    def _mark_lost(self, error: BaseException) -> None:
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            log.warning("redis.lost", detail=f"{type(error).__name__}: {error}", retrying=True)

    async def _answers(self, redis: Redis) -> bool:
        # Twice: the first ping may take a pooled connection that died with the old server.
        for _ in range(2):
            try:
                await redis.ping()
            except Exception:
                continue
            return True
        return False

    async def _check(self, redis: Redis, error: BaseException) -> None:
        """Lost, or one stale connection from before a restart (the pool drops it)? Ask Redis."""
        if self._lost_at is None and await self._answers(redis):
            log.debug("redis.stale_connection", detail=f"{type(error).__name__}: {error}")
            return
        self._mark_lost(error)
        while True:
            if await self._answers(redis):
                break
            await asyncio.sleep(PROBE_SECONDS)
        lost_at = self._lost_at or time.monotonic()
        log.info("redis.back", after_seconds=round(time.monotonic() - lost_at, 1))
        self._lost_at = None

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None


watch = ConnectionWatch()


def install(logger_names: Any = ("hamafza.broker",)) -> None:
    """Put `watch` on the loggers of the libraries that log connection errors per attempt."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if watch not in logger.filters:
            logger.addFilter(watch)
