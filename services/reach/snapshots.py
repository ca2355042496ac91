"""What reach collection records, and reading it back: the settings (offsets, batches, retries), a
tracked post, a due snapshot request and a snapshot (the JSON in `hamafza:reach*`), and the latest
snapshot of every post and audience of every account, which the report reads."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel

from services.keys import ReachKeys

DEFAULT_OFFSETS = "1h,6h,24h,72h"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


# --- settings ---------------------------------------------------------------------------


def parse_offsets(text: str) -> tuple[tuple[str, float], ...]:
    """`"1h,6h,24h,72h"` → ((label, seconds), …); a bare number is seconds."""
    offsets: list[tuple[str, float]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _DURATION.match(part)
        if match is None:
            raise ValueError(f"reach offset {part.strip()!r} is not a duration like 90s, 30m, 6h or 3d")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        offsets.append((part.strip(), seconds))
    if not offsets:
        raise ValueError("no reach offsets given")
    return tuple(sorted(offsets, key=lambda offset: offset[1]))


@dataclass(frozen=True)
class ReachSettings:
    """`HAMAFZA_REACH_OFFSETS` (default `1h,6h,24h,72h`), `HAMAFZA_REACH_MAX_ATTEMPTS` (5)."""

    offsets: tuple[tuple[str, float], ...] = parse_offsets(DEFAULT_OFFSETS)
    max_attempts: int = 5
    backoff_base_seconds: float = 60.0
    backoff_cap_seconds: float = 3600.0

    @classmethod
    def from_env(cls) -> ReachSettings:
        return cls(
            offsets=parse_offsets(os.environ.get("HAMAFZA_REACH_OFFSETS", DEFAULT_OFFSETS)),
            max_attempts=int(os.environ.get("HAMAFZA_REACH_MAX_ATTEMPTS", "5")),
        )

    @property
    def window_seconds(self) -> float:
        return self.offsets[-1][1]


# --- wire format ---------------------------------------------------------------------------------


class TrackedPost(BaseModel):
    """A posted delivery whose reach is followed."""

    delivery_id: str
    item_id: str
    agency: str
    origin_agency: str
    platform: str
    action: str
    post_id: str
    chat: str | None = None
    url: str | None = None
    campaign: str | None = None
    posted_at: AwareDatetime


class ReachDue(BaseModel):
    """A snapshot request, released by the scheduler onto `hamafza:reach:due` when due."""

    delivery_id: str
    offset: str
    attempt: int = 0


class ReachSnapshot(BaseModel):
    """A post's public metrics and its account's audience at one moment; None where unknown."""

    delivery_id: str
    item_id: str
    agency: str
    origin_agency: str
    platform: str
    action: str
    post_id: str
    campaign: str | None = None
    account: str
    offset: str
    posted_at: AwareDatetime
    at: AwareDatetime
    audience: int | None = None
    impressions: int | None = None
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    views: int | None = None


async def latest_snapshots(runtime_redis: Any, keys: ReachKeys) -> dict[str, ReachSnapshot]:
    """The latest snapshot of every tracked post, by delivery id."""
    raw: Any = await runtime_redis.zrange(keys.posts, 0, -1)
    ids = [member.decode() for member in raw]
    async with runtime_redis.pipeline(transaction=False) as pipe:
        for delivery_id in ids:
            pipe.hget(keys.post(delivery_id), "latest")
        rows: list[bytes | None] = await pipe.execute()
    return {
        delivery_id: ReachSnapshot.model_validate_json(row)
        for delivery_id, row in zip(ids, rows, strict=True)
        if row is not None
    }


async def audiences(redis: Any, keys: ReachKeys) -> dict[tuple[str, str], int]:
    """Each account's latest known audience, by (platform, agency)."""
    raw: Any = await redis.hgetall(keys.audience)
    found: dict[tuple[str, str], int] = {}
    for field, value in raw.items():
        platform, _, agency = field.decode().partition("/")
        found[(platform, agency)] = int(json.loads(value)["audience"])
    return found
