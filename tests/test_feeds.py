"""The RSS/Atom watcher against a local feed server over real HTTP (no network): conditional GET
with ETag, only entries newer than the first poll, dedupe by entry id, XADD like any agency."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web
from redis.asyncio import Redis

from schemas import AgencyConfig, Item
from schemas.network import FeedSettings
from services.ingress.api import Ingest
from services.ingress.feeds import FeedService, FeedWatcher
from services.keys import Keys


@dataclass
class FeedSite:
    """An agency's site: an RSS feed with an ETag that changes when an entry is added."""

    entries: list[dict[str, str]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    not_modified: int = 0

    def add(self, guid: str, title: str, when: datetime, tag: str = "خوزستان") -> None:
        self.entries.insert(
            0,
            {
                "guid": guid,
                "title": title,
                "description": f"<p>شرح {title}</p>",
                "link": f"https://khz-roads.example/news/{guid}",
                "pubDate": format_datetime(when),
                "category": tag,
                "image": f"https://khz-roads.example/img/{guid}.jpg",
            },
        )

    def rss(self) -> str:
        items = "".join(
            f'<item><guid isPermaLink="false">{e["guid"]}</guid><title>{e["title"]}</title>'
            f"<link>{e['link']}</link><description><![CDATA[{e['description']}]]></description>"
            f"<pubDate>{e['pubDate']}</pubDate><category>{e['category']}</category>"
            f'<enclosure url="{e["image"]}" type="image/jpeg" length="1000"/></item>'
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>اخبار</title><link>https://khz-roads.example/</link>{items}</channel></rss>"
        )

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        body = self.rss()
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            text=body, content_type="application/rss+xml", headers={"ETag": etag, "Last-Modified": "x"}
        )


@pytest.fixture
async def site() -> AsyncIterator[tuple[FeedSite, str]]:
    feed = FeedSite()
    app = web.Application()
    app.router.add_get("/feed", feed.handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield feed, str(server.make_url("/feed"))
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def watcher(redis: Redis, prefix: str, url: str, session: aiohttp.ClientSession) -> FeedWatcher:
    ingest = Ingest(redis, Keys(prefix))

    async def publish(item: Item) -> str:
        return (await ingest.accept(item, source="feed")).id

    return FeedWatcher(
        redis, Keys(prefix), "khz-roads", FeedSettings.model_validate({"url": url}), publish, session
    )


async def stream_items(redis: Redis, prefix: str) -> list[dict[str, Any]]:
    entries: Any = await redis.xrange(Keys(prefix).items)
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def test_only_entries_newer_than_the_first_poll_are_published_once(
    site: tuple[FeedSite, str], redis: Redis, prefix: str, session: aiohttp.ClientSession
) -> None:
    feed, url = site
    now = datetime.now(UTC)
    feed.add("old-1", "خبر قدیمی یک", now - timedelta(days=2))
    feed.add("old-2", "خبر قدیمی دو", now - timedelta(days=1))
    first = watcher(redis, prefix, url, session)
    assert await first.poll_once() == []  # the archive is never published
    assert await first.poll_once() == []
    assert feed.not_modified == 1
    assert feed.requests[1]["If-None-Match"]

    feed.add("new-1", "افتتاح محور جدید", now + timedelta(seconds=1))
    feed.add("new-2", "بازگشایی پل", now + timedelta(seconds=2))
    # a restarted watcher (a new object) keeps the ETag, the baseline and the seen ids in Redis
    again = watcher(redis, prefix, url, session)
    published = await again.poll_once()
    assert len(published) == 2
    assert await again.poll_once() == []
    assert feed.not_modified == 2

    items = await stream_items(redis, prefix)
    assert [item["text"].split("\n\n")[0] for item in items] == ["افتتاح محور جدید", "بازگشایی پل"]
    first_item = items[0]
    assert first_item["agency"] == "khz-roads"
    assert first_item["link"] == "https://khz-roads.example/news/new-1"
    assert first_item["tags"] == ["خوزستان"]
    assert first_item["media"] == [{"url": "https://khz-roads.example/img/new-1.jpg"}]
    assert first_item["id"] == published[0]


async def test_an_old_entry_appearing_late_and_a_lost_etag_publish_nothing(
    site: tuple[FeedSite, str], redis: Redis, prefix: str, session: aiohttp.ClientSession
) -> None:
    feed, url = site
    now = datetime.now(UTC)
    feed.add("a", "یک", now - timedelta(hours=1))
    watch = watcher(redis, prefix, url, session)
    await watch.poll_once()
    feed.add("backdated", "خبر پیشین", now - timedelta(hours=3))  # dated before the first poll
    feed.add("b", "دو", now + timedelta(seconds=5))
    assert len(await watch.poll_once()) == 1
    # the ETag is lost (a cache, another replica): the feed is parsed again, nothing is republished
    await redis.hset(f"{prefix}:ingest:feed:khz-roads", "etag", "")
    assert await watch.poll_once() == []
    assert [i["text"].split("\n\n")[0] for i in await stream_items(redis, prefix)] == ["دو"]


async def test_the_feed_service_polls_on_its_interval(
    site: tuple[FeedSite, str], redis: Redis, prefix: str
) -> None:
    feed, url = site
    feed.add("a", "یک", datetime.now(UTC) - timedelta(hours=1))
    published: list[Item] = []

    async def publish(item: Item) -> str:
        published.append(item)
        assert item.id is not None
        return item.id

    agencies = {
        "khz-roads": AgencyConfig.model_validate(
            {"name": "راه", "ingest": {"feed": {"url": url, "interval_seconds": 0.05}}}
        ),
        "khz-rail": AgencyConfig.model_validate({"name": "ریل"}),
    }
    service = FeedService(redis, Keys(prefix), agencies, publish)
    assert list(service.feeds) == ["khz-roads"]
    await service.start()
    try:
        for _ in range(100):
            if len(feed.requests) >= 2:
                break
            await asyncio.sleep(0.02)
        feed.add("b", "دو", datetime.now(UTC) + timedelta(seconds=5))
        for _ in range(200):
            if published:
                break
            await asyncio.sleep(0.02)
    finally:
        await service.stop()
    assert [item.text.split("\n\n")[0] for item in published] == ["دو"]
