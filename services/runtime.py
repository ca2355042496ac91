"""The objects every service shares, built once by the composition root (`services.app`)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from adapters import Adapter
from services.config import Account, Network
from services.keys import Keys
from services.ops.metrics import Metrics

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Operational knobs; every one has an environment variable and a safe default."""

    prefix: str = "hamafza"
    batch_size: int = 100  # entries read per XREADGROUP; also bounds one stream's calls in flight
    # A pending entry idle this long belongs to a dead consumer: live ones refresh what they hold
    # (services/pipeline/heartbeat.py), so this can be short and recovery fast.
    claim_idle_ms: int = 10_000
    lease_ms: int = 8_000  # a delivery's lease while its platform call runs; renewed by the heartbeat
    max_deliveries: int = 5  # a stream entry delivered this often is poison
    max_attempts: int = 6  # platform calls before a retryable failure becomes a dead letter
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 900.0
    scheduler_interval_seconds: float = 0.2
    max_in_flight: int = 200  # concurrent platform calls per process
    auth_pause_seconds: float = 900.0  # an account whose credentials were refused waits this long
    work_retention_ms: int = 24 * 3600 * 1000  # finished work entries kept this long for debugging
    stale_consumer_ms: int = 3600 * 1000  # a consumer silent this long with nothing pending is gone
    janitor_interval_seconds: float = 60.0
    startup_wait_seconds: float = 120.0  # how long a starting worker waits for Redis to answer
    drain_seconds: float = 30.0  # on SIGTERM, how long platform calls in flight may take to finish
    # With replicas (Sentinel): a claim must reach this many replicas (WAIT) before the platform call;
    # if it does not within the timeout, no call is made and the delivery is tried again later.
    claim_replicas: int = 0
    claim_replica_timeout_ms: int = 500
    media_max_bytes: int = 50 * 1024 * 1024  # one media file fetched and kept for in-flight work
    updates_poll_seconds: float = 20.0  # a long poll of a bot's updates (a page read waits less)
    channel_settle_seconds: float = 3.0  # a channel post (an album) is collected this long before publishing
    media_ttl_seconds: float = 6 * 3600.0  # how long fetched media wait in Redis for retries and copies
    media_fetch_timeout_seconds: float = 20.0  # one media download, redirects included

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        defaults = cls()
        for name in cls.__dataclass_fields__:
            raw = os.environ.get(f"HAMAFZA_{name.upper()}")
            if raw is not None:
                values[name] = type(getattr(defaults, name))(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Runtime:
    """Settings, the network, one adapter per platform and a Redis client: the whole world of a worker."""

    settings: Settings
    network: Network
    adapters: dict[str, Adapter[Any]]
    redis: Redis
    redis_url: str
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # Other things to release on shutdown (HTTP sessions of the services), called after the adapters'.
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)  # what the services count (services.ops.metrics)

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.prefix)

    def account_label(self, account: Account) -> str:
        return self.adapters[account.platform].account_label(account.credentials)

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()
        for close in self.closers:
            await close()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the event loop: uvloop where it is installed (a third less CPU per delivery), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def text(value: Any) -> str:
    """A Redis reply as text: the client returns bytes (no decode_responses), scripts sometimes str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def now() -> datetime:
    return datetime.now(UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def encode(model: BaseModel) -> dict[FieldT, EncodableT]:
    """A stream entry's fields: one `data` field of JSON, readable by any Redis client."""
    return {"data": model.model_dump_json(exclude_none=True)}


class BadEntry(ValueError):
    """A stream entry that is not a JSON object; the message says what it was."""


MAX_ENTRY_BYTES = 1_048_576  # as the HTTP ingress; an item is at most a few tens of kilobytes


def loads_bounded(raw: bytes | str, limit: int = MAX_ENTRY_BYTES) -> Any:
    """`json.loads` whose every failure is a ValueError with a message a publisher can act on.

    Besides malformed JSON, Python's parser raises RecursionError on deep nesting (10,000 levels of
    `[`) and ValueError past the int-string limit (a 5,000-digit number): hostile input, not bugs.
    """
    if len(raw) > limit:
        raise ValueError(f"larger than {limit} bytes")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise ValueError(str(error)) from None
    except ValueError as error:  # the int-string conversion limit (sys.set_int_max_str_digits)
        raise ValueError(f"a number is too long: {error}") from None


def decode_entry(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The JSON object of an entry written by redis-cli (`data`) or by FastStream (`__data__`)."""
    if b"data" in fields:
        raw = fields[b"data"]
    elif b"__data__" in fields:
        try:
            raw, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
        except Exception as error:  # a third-party parser of hostile bytes: any failure is the entry's
            raise BadEntry(f"`__data__` is not a FastStream message: {type(error).__name__}") from None
    else:
        names = ", ".join(sorted(key.decode("utf-8", "replace") for key in fields)) or "none"
        raise BadEntry(
            f"entry has no `data` field (fields: {names}); publish with XADD <stream> * data '<json>'"
        )
    try:
        value = loads_bounded(raw)
    except ValueError as error:
        raise BadEntry(f"`data` is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadEntry(f"`data` must be a JSON object, not {type(value).__name__}")
    return value


def entry_id_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id (`<ms>-<seq>`) as something that sorts like Redis sorts ids."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def payload_of(fields: dict[bytes, bytes], limit: int = 256 * 1024) -> str | None:
    """The `data` field as text, if it is text and not absurdly large: what a replay re-sends."""
    raw = fields.get(b"data")
    if raw is None or len(raw) > limit:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def preview(fields: dict[bytes, bytes], limit: int = 500) -> str:
    """A printable, bounded copy of a raw entry, for dead letters."""
    text = " ".join(
        f"{k.decode('utf-8', 'replace')}={v.decode('utf-8', 'replace')}" for k, v in fields.items()
    )
    return text if len(text) <= limit else text[:limit] + "…"
