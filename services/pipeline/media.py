"""The media step: each media URL of an item is fetched once, checked, kept for in-flight work, and
handed to the adapters as bytes.

Fan-out calls `prepare` before it queues an item's deliveries: every URL is fetched once (whatever
the number of platforms and partners), its type read from the bytes, its size bounded while reading,
and the result judged against each target platform's declared limits (`media_limit`, `media_kinds`,
`media_max_bytes`); a platform whose limits are broken gets a `media_rejected` dead letter instead of
a delivery. Deliver calls `files_for` to get the bytes as `MediaFile`s.

Where the bytes wait: Redis, under `Keys.media(item_id, url)` with a TTL (`HAMAFZA_MEDIA_TTL_SECONDS`,
6 h by default). Every worker process on every host already shares that Redis, so a retry, a
redelivery to another worker and a partner's `copy` hours later read the same bytes without fetching
again, and nothing needs cleaning up: the keys expire. The size is bounded: one file is at most
`HAMAFZA_MEDIA_MAX_BYTES` (50 MB by default; files larger than every target platform takes are not
stored at all, only their size and type), an item has at most 10 media, so Redis holds at most
items-with-media-per-TTL × 10 × that. A record that expired before its last delivery (a long
rate-limit pause) is fetched again, once per delivery that finds it missing.

Adapters with `uploads_media = False` (the platform fetches the URL itself) are given no bytes and
trigger no fetch; they read `delivery.media`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.typing import EncodableT, FieldT

from adapters import Adapter, MediaFile
from schemas import Delivery
from schemas.items import Media
from services.logs import get_logger
from services.pipeline.media_fetch import MediaFetcher, MediaRefused
from services.pipeline.media_guard import (
    FetchedMedia,
    MediaRules,
    fetch_cap,
    kind_of,
    media_violation,
    shown,
)
from services.runtime import Runtime

log = get_logger("hamafza.media")


def rules_of(adapter: Adapter[Any] | type[Adapter[Any]]) -> MediaRules:
    """A platform's declared media limits (class attributes: an adapter or its class will do)."""
    return MediaRules(
        platform=adapter.platform,
        media_limit=adapter.media_limit,
        media_kinds=frozenset(adapter.media_kinds),
        media_max_bytes={kind: size for kind, size in adapter.media_max_bytes.items()},
    )


def takes_bytes(adapter: Adapter[Any]) -> bool:
    """Whether this platform is sent the bytes Hamafza fetched (else nothing is fetched for it)."""
    return adapter.uploads_media and adapter.media_limit > 0


class MediaStep:
    def __init__(self, runtime: Runtime, fetcher: MediaFetcher | None = None) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.store_cap = settings.media_max_bytes
        self.ttl_seconds = int(settings.media_ttl_seconds)
        self.fetcher = fetcher or MediaFetcher(
            runtime.network.file.media.allow_hosts,
            timeout_seconds=settings.media_fetch_timeout_seconds,
        )
        runtime.closers.append(self.fetcher.aclose)

    async def prepare(
        self, item_id: str, media: Sequence[Media], adapters: Sequence[Adapter[Any]]
    ) -> dict[str, str]:
        """Fetches the media the target platforms need, once; returns the refusal of each platform
        whose limits they break, by platform name."""
        targets = [rules_of(adapter) for adapter in adapters if takes_bytes(adapter)]
        if not media or not targets:
            return {}
        wanted = max(rules.media_limit for rules in targets)
        # All at once, so an item's fetches take one timeout at most, well within the time after which
        # another worker would reclaim the entry (`claim_idle_ms`); at most 10 files (`Item.media`).
        fetched = await asyncio.gather(
            *(self._get(item_id, index, medium, targets) for index, medium in enumerate(media[:wanted]))
        )
        refusals: dict[str, str] = {}
        for rules in targets:
            problem = media_violation(rules, fetched, self.store_cap)
            if problem is not None:
                refusals[rules.platform] = problem
        return refusals

    async def files_for(self, delivery: Delivery, adapter: Adapter[Any]) -> list[MediaFile] | str:
        """The delivery's media as bytes for its adapter, or why they cannot go to its platform."""
        if not delivery.media or not takes_bytes(adapter):
            return []
        rules = rules_of(adapter)
        chosen = delivery.media[: rules.media_limit]
        fetched: list[FetchedMedia] = []
        files: list[MediaFile] = []
        for index, medium in enumerate(chosen):
            record, data = await self._load(delivery.item_id, index, str(medium.url), with_data=True)
            if record is None:
                record = await self._get(delivery.item_id, index, medium, [rules])
                _, data = await self._load(delivery.item_id, index, str(medium.url), with_data=True)
            fetched.append(record)
            if record.content_type is not None and data is not None:
                files.append(MediaFile(str(medium.url), record.content_type, data, medium.alt))
        problem = media_violation(rules, fetched, self.store_cap)
        if problem is not None:
            return problem
        if len(files) != len(chosen):
            # Stored without bytes although within this platform's limits: a record that expired
            # between two reads; the next attempt fetches it again.
            return "the media expired from the in-flight store while being read; replay the delivery"
        return files

    async def keep(self, item_id: str, url: str, content_type: str, data: bytes) -> None:
        """Bytes Hamafza already holds (a channel post's pictures, downloaded with the account's own
        credentials) stored as if fetched from `url`, so the platforms get them without any fetch."""
        key = self._key(item_id, url)
        fields: dict[FieldT, EncodableT] = {
            "url": url,
            "size": len(data),
            "truncated": 0,
            "content_type": content_type,
            "data": data,
        }
        async with self.runtime.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()

    # --- store -----------------------------------------------------------------------------------

    def _key(self, item_id: str, url: str) -> str:
        return self.runtime.keys.media(item_id, hashlib.sha256(url.encode()).hexdigest()[:24])

    async def _get(
        self, item_id: str, index: int, medium: Media, targets: Sequence[MediaRules]
    ) -> FetchedMedia:
        url = str(medium.url)
        stored, _ = await self._load(item_id, index, url, with_data=False)
        if stored is not None:
            return stored
        record, data = await self._fetch(index, url, targets)
        fields: dict[FieldT, EncodableT] = {
            "url": url,
            "size": record.size,
            "truncated": int(record.truncated),
        }
        if record.content_type is not None:
            fields["content_type"] = record.content_type
        if record.refused is not None:
            fields["refused"] = record.refused
        if data is not None:
            fields["data"] = data
        key = self._key(item_id, url)
        async with self.runtime.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()
        return record

    async def _fetch(
        self, index: int, url: str, targets: Sequence[MediaRules]
    ) -> tuple[FetchedMedia, bytes | None]:
        def cap_for(content_type: str) -> int:
            return fetch_cap(kind_of(content_type), targets, self.store_cap)

        try:
            download = await self.fetcher.fetch(url, cap_for)
        except MediaRefused as refusal:
            log.warning("media.refused", url=shown(url), detail=str(refusal))
            return FetchedMedia(index, url, refused=str(refusal)), None
        log.info(
            "media.fetched",
            url=shown(url),
            content_type=download.content_type,
            size=download.size,
            truncated=download.truncated,
        )
        record = FetchedMedia(index, url, download.content_type, download.size, truncated=download.truncated)
        return record, None if download.truncated else download.data

    async def _load(
        self, item_id: str, index: int, url: str, with_data: bool
    ) -> tuple[FetchedMedia | None, bytes | None]:
        names = ["url", "content_type", "size", "truncated", "refused"] + (["data"] if with_data else [])
        values = await self.runtime.redis.hmget(self._key(item_id, url), names)
        if values[0] is None:
            return None, None
        text = [value.decode() if isinstance(value, bytes) else value for value in values[:5]]
        record = FetchedMedia(
            index,
            url,
            content_type=text[1],
            size=int(text[2] or 0),
            truncated=text[3] == "1",
            refused=text[4],
        )
        data = values[5] if with_data else None
        return record, data if isinstance(data, bytes) else None
