"""One XADD with two photos, through the real workers and the real X, Mastodon and Bluesky clients
against the sandbox over HTTP: each photo fetched once from the sandbox's CMS, uploaded everywhere,
partners' retweets, boosts and reposts; and an item with a private media URL never fetched."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import RunningSandbox
from sandbox.x import XFake
from schemas import DeadReason
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_idle, xadd_fields

AGENCIES = {"qom-governorate": "2001", "qom-municipality": "2002", "qom-red-crescent": "2003"}


def network(sandbox: RunningSandbox) -> dict[str, Any]:
    return {
        "platforms": {p: {"api_base": sandbox.api_base(p)} for p in ("x", "mastodon", "bluesky")},
        "media": {"allow_hosts": [urlsplit(sandbox.url).netloc]},
        "agencies": {
            name: {
                "name": f"اداره {name}",
                "accounts": {
                    "x": {
                        "consumer_key": "ck",
                        "consumer_secret": f"cs-{name}-secret",
                        "access_token": f"{uid}-{name}-token-secret",
                        "access_token_secret": f"ats-{name}-secret",
                    },
                    "mastodon": {"access_token": f"mastodon-{name}-secret"},
                    "bluesky": {"handle": f"{name}.bsky.social", "app_password": f"bsky-{name}-secret"},
                },
            }
            for name, uid in AGENCIES.items()
        },
        "networks": {
            "qom-pilgrims": {
                "members": list(AGENCIES),
                "amplify": {"x": "retweet", "mastodon": "boost", "bluesky": "repost"},
                "delay_seconds": [0, 0.2],
            }
        },
    }


@pytest.fixture
async def runtime(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> AsyncIterator[Runtime]:
    x = sandbox.sandbox.fakes["x"]
    assert isinstance(x, XFake)
    registry = load_adapters()
    settings = Settings(prefix=prefix, scheduler_interval_seconds=0.05, claim_idle_ms=2000)
    yield build_runtime(parse_network(network(sandbox), registry), redis_url, settings, registry)


async def publish(runtime: Runtime, redis: Redis, item: dict[str, Any]) -> None:
    async with running(runtime, ("fanout", "deliver", "amplify", "scheduler")) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers, timeout=40)


async def test_one_xadd_with_two_photos_reaches_every_platform_fetched_once(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    photos = [
        {"url": f"{sandbox.url}/_sandbox/media/map.jpg?bytes=200000", "alt": "نقشه طرح ترافیکی"},
        {"url": f"{sandbox.url}/_sandbox/media/gate.png?bytes=80000", "alt": "ورودی جمکران"},
    ]
    await publish(
        runtime,
        redis,
        {"id": "qom-e2e-1", "agency": "qom-governorate", "text": "طرح ترافیکی نیمه شعبان", "media": photos},
    )
    assert dict(sandbox.sandbox.media_requests) == {
        "/_sandbox/media/map.jpg": 1,
        "/_sandbox/media/gate.png": 1,
    }
    posts = sandbox.sandbox.posts
    assert Counter((post.platform, post.action) for post in posts) == {
        ("x", "publish"): 1,
        ("x", "retweet"): 2,
        ("mastodon", "publish"): 1,
        ("mastodon", "boost"): 2,
        ("bluesky", "publish"): 1,
        ("bluesky", "repost"): 2,
    }
    own = {post.platform: post for post in posts if post.action == "publish"}
    assert all(len(post.media) == 2 for post in own.values())
    x = sandbox.sandbox.fakes["x"]
    assert isinstance(x, XFake)
    uploads = [x.media.uploads[key.partition("_")[2]] for key in own["x"].media]
    assert [(u.media_type, u.total_bytes, u.alt_text) for u in uploads] == [
        ("image/jpeg", 200000, "نقشه طرح ترافیکی"),
        ("image/png", 80000, "ورودی جمکران"),
    ]
    assert await dead_letters(redis, runtime.keys) == []


async def test_a_private_media_url_is_never_fetched_and_ends_as_media_rejected_everywhere(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    await publish(
        runtime,
        redis,
        {
            "id": "qom-e2e-2",
            "agency": "qom-governorate",
            "text": "خبر",
            "media": [{"url": "http://127.0.0.1:6379/photo.jpg"}],
        },
    )
    letters = [letter for _, letter in await dead_letters(redis, runtime.keys)]
    assert sorted(letter.platform or "" for letter in letters) == ["bluesky", "mastodon", "x"]
    for letter in letters:
        assert letter.reason is DeadReason.MEDIA_REJECTED
        assert "127.0.0.1 is a loopback address" in letter.detail
    assert sandbox.sandbox.posts == [] and not sandbox.sandbox.media_requests
