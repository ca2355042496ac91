"""What the CLI says when Redis or the database does not answer: one line and exit 3, no traceback."""

from __future__ import annotations

from redis.exceptions import BusyLoadingError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNAVAILABLE_EXIT = 3


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            seen.extend(current.exceptions)
        current = current.__cause__ or current.__context__
    return seen


def unavailable(error: BaseException) -> str | None:
    """A one-line explanation if `error` (or what caused it) is a dependency that does not answer."""
    for cause in _chain(error):
        if isinstance(cause, RedisConnectionError | RedisTimeoutError | BusyLoadingError | ReadOnlyError):
            detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            return f"Redis does not answer ({detail}); check --redis-url / REDIS_URL and that Redis runs"
        module = type(cause).__module__
        if module.startswith(("sqlalchemy", "psycopg", "asyncpg")) and type(cause).__name__ in {
            "OperationalError",
            "InterfaceError",
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
        }:
            detail = str(cause).splitlines()[0][:200]
            return f"the database does not answer ({detail}); check HAMAFZA_DATABASE_URL and that it runs"
        if isinstance(cause, ConnectionRefusedError):
            return (
                f"a service does not answer ({cause}); check --redis-url / REDIS_URL and HAMAFZA_DATABASE_URL"
            )
    return None
