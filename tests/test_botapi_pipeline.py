"""The Bot-API family through the whole pipeline against the sandbox: an item with two pictures becomes
an album on Telegram, Bale and Soroush+ and partners forward every picture; an ambiguous send to a
public Telegram channel is reconciled from its preview page, one to a private channel is `unconfirmed`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import Fault, RunningSandbox
from schemas import DeadReason
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters, item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_idle, xadd_fields

PLATFORMS = ("telegram", "bale", "soroush")
AGENCIES = {"qom-gov": ("استانداری قم", "@qom_gov"), "qom-city": ("شهرداری قم", "@qom_city")}


def token(platform: str, agency: str) -> str:
    return f"{PLATFORMS.index(platform) + 7}{len(agency)}:AAsecret{agency.replace('-', '')}TokenXXXXXXXXXX"


def make_runtime(sandbox: RunningSandbox, redis_url: str, prefix: str, chats: dict[str, str]) -> Runtime:
    registry = {name: cls for name, cls in load_adapters().items() if name in PLATFORMS}
    document: dict[str, Any] = {
        "media": {"allow_hosts": [urlsplit(sandbox.url).netloc]},  # the sandbox serves the CMS's files
        "platforms": {
            platform: {"api_base": sandbox.api_base(platform), "web_base": sandbox.api_base(platform)}
            for platform in PLATFORMS
        },
        "agencies": {
            agency: {
                "name": title,
                "accounts": {
                    platform: {"bot_token": token(platform, agency), "chat_id": chats.get(agency, chat)}
                    for platform in PLATFORMS
                },
            }
            for agency, (title, chat) in AGENCIES.items()
        },
        "networks": {
            "qom-pilgrims": {
                "members": list(AGENCIES),
                "amplify": dict.fromkeys(PLATFORMS, "forward"),
                "delay_seconds": [0, 0.1],
            }
        },
    }
    settings = Settings(
        prefix=prefix, claim_idle_ms=1000, scheduler_interval_seconds=0.05, backoff_base_seconds=0.05
    )
    return build_runtime(parse_network(document, registry), redis_url, settings, registry)


async def test_two_pictures_become_albums_and_partners_forward_all_of_them(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix, {})
    item = {
        "id": "qom-1",
        "agency": "qom-gov",
        "text": "خدمت‌رسانی به زائران در حرم",
        "media": [
            {"url": f"{sandbox.url}/_sandbox/media/haram.jpg", "alt": "زائران"},
            {"url": f"{sandbox.url}/_sandbox/media/mokeb.png?bytes=2500"},
        ],
    }
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers, timeout=30)

    states = {(s.platform, s.action): s for s in await item_deliveries(redis, runtime.keys, "qom-1")}
    for platform in PLATFORMS:
        posts = sandbox.sandbox.posts_on(platform)
        [album] = [post for post in posts if post.action == "publish"]
        assert album.chat == "@qom_gov" and len(album.post_ids) == 2
        # The bytes the media step fetched once, uploaded to every provider.
        assert [ref.rsplit(":", 2)[1] for ref in album.media] == ["media.jpg", "media.png"]
        assert states[(platform, "publish")].state == "posted"
        assert states[(platform, "publish")].post_id == album.post_id
        forwards = [post for post in posts if post.action == "forward"]
        assert {post.chat for post in forwards} == {"@qom_city"}
        assert sum(len(post.media) for post in forwards) == 2  # both pictures, not just the first
        assert {post.source_chat for post in forwards} == {"@qom_gov"}
        assert states[(platform, "forward")].state == "posted"
    assert await dead_letters(redis, runtime.keys) == []
    assert sandbox.sandbox.media_requests["/_sandbox/media/haram.jpg"] == 1  # fetched once for all


async def test_an_ambiguous_send_is_reconciled_on_a_public_channel_and_unconfirmed_on_a_private_one(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix, {"qom-city": "-1001234567"})
    # Each agency's send is carried out, then its response is lost.
    sandbox.sandbox.add_fault("telegram", Fault(kind="drop", times=2, path="sendMessage"))
    items = [
        {
            "id": "gov-1",
            "agency": "qom-gov",
            "text": "اطلاعیه استانداری",
            "platforms": ["telegram"],
            "amplify": False,
        },
        {
            "id": "city-1",
            "agency": "qom-city",
            "text": "اطلاعیه شهرداری",
            "platforms": ["telegram"],
            "amplify": False,
        },
    ]
    async with running(runtime) as workers:
        for item in items:
            await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers, timeout=30)

    posts = sandbox.sandbox.posts_on("telegram")
    assert sorted(post.text for post in posts) == ["اطلاعیه استانداری", "اطلاعیه شهرداری"]  # each sent once
    [public] = await item_deliveries(redis, runtime.keys, "gov-1")
    assert public.state == "posted" and public.post_id == next(
        p.post_id for p in posts if p.chat == "@qom_gov"
    )
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.UNCONFIRMED and letter.item_id == "city-1"
    assert "private channel" in letter.detail
