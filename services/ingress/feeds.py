"""RSS/Atom watcher: an agency's site feed becomes items, without anyone calling the API.

- Conditional GET: the last `ETag` and `Last-Modified` go back as `If-None-Match` and
  `If-Modified-Since`, so an unchanged feed costs a 304 and no parsing.
- Only entries newer than the first poll: the first poll records what is there and publishes
  nothing, so adding a feed never floods the accounts with its archive.
- Dedupe by entry id (`<guid>`, Atom `<id>`, else the link): seen ids and the poll state live in
  Redis, so a restart neither republishes nor misses; item ids derive from agency and entry id, so
  two replicas polling the same feed still publish each entry once.

`FeedService` runs inside the api service; `FeedWatcher.run()` is a loop of its own for any other
process. Parsing is `feedparser` (maintained, tolerant of the broken feeds CMSs produce).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import feedparser  # type: ignore[import-untyped]
from redis.asyncio import Redis

from schemas import AgencyConfig, Item
from schemas.network import FeedSettings
from services.ingress.webhooks import PayloadError, post_item, short_digest, strip_html
from services.keys import Keys
from services.logs import get_logger

log = get_logger("hamafza.feeds")

Publish = Callable[[Item], Awaitable[Any]]
SEEN_KEPT = 5000  # entry ids remembered per feed; far more than any feed lists
TIMEOUT_SECONDS = 30.0


def entry_id(entry: Any) -> str:
    return str(
        entry.get("id") or entry.get("link") or short_digest(entry.get("title", ""), entry.get("summary", ""))
    )


def entry_time(entry: Any) -> float | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return float(calendar.timegm(stamp)) if stamp else None


def entry_item(agency: str, entry: Any) -> Item:
    """Title and summary, the link, the first image enclosure, the categories as hashtags."""
    image = None
    for candidate in [*(entry.get("media_content") or []), *(entry.get("enclosures") or [])]:
        kind = str(candidate.get("type") or candidate.get("medium") or "")
        if candidate.get("url" if "url" in candidate else "href") and ("image" in kind or not kind):
            image = candidate.get("url") or candidate.get("href")
            break
    return post_item(
        agency,
        f"feed-{agency}-{short_digest(agency, entry_id(entry))}",
        strip_html(str(entry.get("title") or "")),
        strip_html(str(entry.get("summary") or "")),
        entry.get("link") or None,
        image,
        None,
        [str(tag.get("term") or "") for tag in entry.get("tags") or []],
    )


class FeedWatcher:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        agency: str,
        settings: FeedSettings,
        publish: Publish,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.agency, self.settings = redis, agency, settings
        self.publish, self.session, self.clock = publish, session, clock
        self.url = str(settings.url)
        self.state_key = keys.feed_state(agency)
        self.seen_key = keys.feed_seen(agency)

    async def _fetch(self, fields: dict[str, str]) -> tuple[Any, str | None, str | None] | None:
        """One conditional GET: the parsed feed and its validators (ETag, Last-Modified), or None when
        unchanged, failed or unparseable (logged)."""
        headers = {}
        if fields.get("etag"):
            headers["If-None-Match"] = fields["etag"]
        if fields.get("modified"):
            headers["If-Modified-Since"] = fields["modified"]
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with self.session.get(self.url, headers=headers, timeout=timeout) as response:
            if response.status == 304:
                log.debug("feed.unchanged", agency=self.agency)
                return None
            if response.status != 200:
                log.warning("feed.http_error", agency=self.agency, status=response.status)
                return None
            body = await response.read()
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            content_type = response.headers.get("Content-Type", "")
        parsed = feedparser.parse(
            body, response_headers={"content-location": self.url, "content-type": content_type}
        )
        if parsed.get("bozo") and not parsed.entries:
            log.warning("feed.unparseable", agency=self.agency, detail=str(parsed.get("bozo_exception")))
            return None
        return parsed, etag, modified

    async def poll_once(self) -> list[str]:
        """One conditional GET; the ids of the items it published."""
        state: Any = await self.redis.hgetall(self.state_key)
        fields = {k.decode(): v.decode() for k, v in state.items()}
        if fields.get("url") != self.url:  # a new feed starts over
            fields = {}
        fetched = await self._fetch(fields)
        if fetched is None:
            return []
        parsed, etag, modified = fetched
        first = "baseline" not in fields
        baseline = self.clock() if first else float(fields["baseline"])
        fresh: list[tuple[str, Any]] = []
        for entry in parsed.entries:
            key = entry_id(entry)
            if await self.redis.zscore(self.seen_key, key) is not None:
                continue
            published = entry_time(entry)
            if first or (published is not None and published < baseline):
                await self.redis.zadd(self.seen_key, {key: self.clock()})
                continue
            fresh.append((key, entry))
        published_ids: list[str] = []
        for key, entry in reversed(fresh):  # feeds list the newest first; publish in order
            try:
                item = entry_item(self.agency, entry)
            except PayloadError as error:
                log.warning("feed.entry_unmappable", agency=self.agency, entry=key, detail=str(error))
            else:
                # None: refused (an id another agency owns), logged by the publisher, not retried
                published_ids += [str(found) for found in [await self.publish(item)] if found is not None]
            await self.redis.zadd(self.seen_key, {key: self.clock()})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.state_key, "url", self.url)
            pipe.hset(self.state_key, "etag", etag or "")
            pipe.hset(self.state_key, "modified", modified or "")
            if first:
                pipe.hset(self.state_key, "baseline", str(baseline))
            pipe.zremrangebyrank(self.seen_key, 0, -SEEN_KEPT - 1)
            await pipe.execute()
        log.info(
            "feed.polled",
            agency=self.agency,
            entries=len(parsed.entries),
            published=len(published_ids),
            first=first,
        )
        return published_ids

    async def run(self) -> None:
        """Poll forever, every `interval_seconds`; a failing poll is logged and retried next time."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("feed.poll_failed", agency=self.agency, error=f"{type(error).__name__}: {error}")
            await asyncio.sleep(self.settings.interval_seconds)


class FeedService:
    """Every agency's feed watcher, as tasks of the running loop."""

    def __init__(self, redis: Redis, keys: Keys, agencies: dict[str, AgencyConfig], publish: Publish) -> None:
        self.redis, self.keys, self.publish = redis, keys, publish
        self.feeds = {
            name: agency.ingest.feed
            for name, agency in agencies.items()
            if agency.ingest is not None and agency.ingest.feed is not None
        }
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def watchers(self, session: aiohttp.ClientSession) -> list[FeedWatcher]:
        return [
            FeedWatcher(self.redis, self.keys, name, settings, self.publish, session)
            for name, settings in self.feeds.items()
        ]

    async def start(self) -> None:
        if not self.feeds:
            return
        self._session = aiohttp.ClientSession(headers={"User-Agent": "hamafza-feed-watcher"})
        self._tasks = [
            asyncio.create_task(watcher.run(), name=f"feed-{watcher.agency}")
            for watcher in self.watchers(self._session)
        ]
        log.info("feeds.watching", agencies=sorted(self.feeds))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None
