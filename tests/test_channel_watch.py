"""Channel watchers over real HTTP against the sandbox's Telegram fake: a person's post in an agency's
own channel arrives on its bot's `getUpdates`, is published on the agency's other platforms once, and
forwarded once by each partner there; Hamafza's own posts (forwards into partners' channels, which
the fake echoes to every admin bot, the posting one included) never become items."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import RunningSandbox
from sandbox.telegram import TelegramFake
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, wait_idle
from tests.support.sandbox_network import bot_token

AGENCIES = {
    "qom-governorate": ("استانداری قم", "2201", "@qom_ostandari_w"),
    "qom-municipality": ("شهرداری قم", "2202", "@qom_shahrdari_w"),
    "qom-red-crescent": ("جمعیت هلال احمر قم", "2203", "@qom_helal_w"),
}
SERVICES = ["fanout", "deliver", "amplify", "scheduler", "watch"]
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)


def document(sandbox: RunningSandbox, watchers: tuple[str, ...]) -> dict[str, Any]:
    """Every agency has Telegram and Bale; `watchers` publish from their Telegram channel."""
    return {
        "platforms": {
            "telegram": {"api_base": sandbox.api_base("telegram")},
            "bale": {"api_base": sandbox.api_base("bale")},
        },
        "agencies": {
            name: {
                "name": title,
                "accounts": {
                    "telegram": {"bot_token": bot_token(AGENCIES, name), "chat_id": chat},
                    "bale": {"bot_token": bot_token(AGENCIES, name), "chat_id": chat},
                },
                **({"ingest": {"channels": ["telegram"]}} if name in watchers else {}),
            }
            for name, (title, _, chat) in AGENCIES.items()
        },
        "networks": {
            "qom-pilgrims": {
                "members": list(AGENCIES),
                "amplify": {"telegram": "forward", "bale": "forward"},
                "delay_seconds": [0, 0.1],
            }
        },
    }


def make_runtime(sandbox: RunningSandbox, redis_url: str, prefix: str, watchers: tuple[str, ...]) -> Runtime:
    network = parse_network(document(sandbox, watchers), load_adapters())
    settings = Settings(
        prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05, channel_settle_seconds=0.5
    )
    return build_runtime(network, redis_url, settings)


@pytest.fixture
async def telegram(sandbox: RunningSandbox) -> AsyncIterator[TelegramFake]:
    fake = sandbox.sandbox.fakes["telegram"]
    assert isinstance(fake, TelegramFake)
    fake.echo_own_posts = True  # some platforms show a bot its own posts: no loop must follow
    yield fake
    fake.echo_own_posts = False


async def person_posts(sandbox: RunningSandbox, agency: str, text: str, photos: int = 0) -> list[int]:
    _, bot, chat = AGENCIES[agency]
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{sandbox.api_base('telegram')}/_channel_post",
            json={
                "chat": chat,
                "admins": [bot],
                "text": text,
                "photos": [base64.b64encode(JPEG + bytes([n])).decode() for n in range(photos)],
            },
        )
    assert answer.status_code == 200
    return list(answer.json()["message_ids"])


def bot_posts(sandbox: RunningSandbox, platform: str) -> list[tuple[str, str]]:
    return sorted(
        (post.account, post.action)
        for post in sandbox.sandbox.posts_on(platform)
        if post.action not in ("channel", "message")
    )


async def test_a_text_post_and_an_album_reach_the_other_platforms_and_partners_once(
    sandbox: RunningSandbox, telegram: TelegramFake, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix, ("qom-governorate",))
    async with running(runtime, SERVICES) as workers:
        [text_id] = await person_posts(sandbox, "qom-governorate", "آغاز خدمات زائران نیمه شعبان")
        album = await person_posts(sandbox, "qom-governorate", "موکب‌های خدمات", photos=2)

        async def both_items_settled() -> bool:
            statuses = [
                s
                for i in (f"ch.telegram.qom_ostandari_w.{text_id}", f"ch.telegram.qom_ostandari_w.{album[0]}")
                for s in await item_deliveries(redis, runtime.keys, i)
            ]
            return len(statuses) == 2 * 6 and all(s.state == "posted" for s in statuses)

        await wait_for(both_items_settled, timeout=40, what="both items posted and amplified")
        await wait_idle(workers)
    # On Bale: the governorate posts each item once; each partner forwards it there once (Bale has
    # no forwardMessages, so the album's two messages are forwarded one by one).
    assert bot_posts(sandbox, "bale") == sorted(
        [("2201", "publish")] * 2 + [("2202", "forward")] * 3 + [("2203", "forward")] * 3
    )
    # On Telegram, the source: nothing posted again by the governorate; partners forward it.
    telegram_posts = bot_posts(sandbox, "telegram")
    assert ("2201", "publish") not in telegram_posts
    assert telegram_posts == sorted([("2202", "forward")] * 2 + [("2203", "forward")] * 2)
    # The album went out as an album with both pictures.
    [bale_album] = [p for p in sandbox.sandbox.posts_on("bale") if p.account == "2201" and p.media]
    assert len(bale_album.media) == 2 and bale_album.text == "موکب‌های خدمات"
    statuses = await item_deliveries(redis, runtime.keys, f"ch.telegram.qom_ostandari_w.{album[0]}")
    source = next(s for s in statuses if s.platform == "telegram" and s.action == "publish")
    assert (source.state, source.post_id) == ("posted", str(album[0]))


async def test_two_agencies_that_watch_and_amplify_each_other_make_no_loop(
    sandbox: RunningSandbox, telegram: TelegramFake, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix, ("qom-governorate", "qom-municipality"))
    async with running(runtime, SERVICES) as workers:
        [message_id] = await person_posts(sandbox, "qom-governorate", "اطلاعیه ترافیکی حرم")

        async def amplified() -> bool:
            statuses = await item_deliveries(redis, runtime.keys, f"ch.telegram.qom_ostandari_w.{message_id}")
            return len(statuses) == 6 and all(s.state == "posted" for s in statuses)

        await wait_for(amplified, timeout=40, what="the item and its amplifications")
        await wait_idle(workers)
        # The forward landed in the municipality's watched channel and was echoed to its bot: it
        # must not have become an item of the municipality.
        items = await redis.xrange(runtime.keys.items)
    assert len(items) == 1
    assert bot_posts(sandbox, "telegram").count(("2202", "forward")) == 1


async def test_a_restart_and_a_second_watcher_publish_each_post_once(
    sandbox: RunningSandbox, telegram: TelegramFake, redis_url: str, prefix: str, redis: Redis
) -> None:
    first = make_runtime(sandbox, redis_url, prefix, ("qom-governorate",))
    second = make_runtime(sandbox, redis_url, prefix, ("qom-governorate",))
    async with running(first, SERVICES), running(second, ["watch"]):
        [one] = await person_posts(sandbox, "qom-governorate", "خبر یکم")

        async def taken() -> bool:
            return bool(await redis.exists(first.keys.channel_item(f"ch.telegram.qom_ostandari_w.{one}")))

        await wait_for(taken, what="the first post taken")
    # Posted while no watcher runs: the bot's updates wait for the next reader.
    [two] = await person_posts(sandbox, "qom-governorate", "خبر دوم")
    again = make_runtime(sandbox, redis_url, prefix, ("qom-governorate",))
    async with running(again, SERVICES) as workers:

        async def both_posted() -> bool:
            done = 0
            for message in (one, two):
                statuses = await item_deliveries(redis, again.keys, f"ch.telegram.qom_ostandari_w.{message}")
                done += len(statuses) == 6 and all(s.state == "posted" for s in statuses)
            return done == 2

        await wait_for(both_posted, timeout=40, what="both posts published")
        await wait_idle(workers)
    assert len(await redis.xrange(again.keys.items)) == 2
    assert bot_posts(sandbox, "bale").count(("2201", "publish")) == 2


# --- Eitaa (public page) and Rubika (getUpdates): one network builder --------------------------------


def source_document(
    sandbox: RunningSandbox,
    platform: str,
    accounts: dict[str, dict[str, str]],
    verb: str,
    watchers: tuple[str, ...],
) -> dict[str, Any]:
    """Every agency with an account on `platform` (as given) and on Bale; `watchers` publish from
    their `platform` channel; partners amplify with `verb` there and forward on Bale."""
    settings = {"api_base": sandbox.api_base(platform), "web_base": sandbox.api_base(platform)}
    return {
        "platforms": {platform: settings, "bale": {"api_base": sandbox.api_base("bale")}},
        "agencies": {
            name: {
                "name": AGENCIES[name][0],
                "accounts": {
                    platform: credentials,
                    "bale": {"bot_token": bot_token(AGENCIES, name), "chat_id": AGENCIES[name][2]},
                },
                **({"ingest": {"channels": [platform]}} if name in watchers else {}),
            }
            for name, credentials in accounts.items()
        },
        "networks": {
            "qom-pilgrims": {
                "members": list(AGENCIES),
                "amplify": {platform: verb, "bale": "forward"},
                "delay_seconds": [0, 0.1],
            }
        },
    }


def quick_runtime(document: dict[str, Any], redis_url: str, prefix: str, platform: str) -> Runtime:
    """A runtime whose `platform` adapter reads its source every 0.2 s (its own default is seconds)."""
    settings = Settings(
        prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05, channel_settle_seconds=0.3
    )
    runtime = build_runtime(parse_network(document, load_adapters()), redis_url, settings)
    adapter = runtime.adapters[platform]
    for interval in ("page_interval_seconds", "poll_interval_seconds"):
        if hasattr(adapter, interval):
            setattr(adapter, interval, 0.2)
    return runtime


EITAA_CHANNELS = {
    "qom-governorate": "ostandari_qom_w",
    "qom-municipality": "shahrdari_qom_w",
    "qom-red-crescent": "helal_qom_w",
}


async def test_a_post_on_an_eitaa_channel_page_reaches_bale_and_is_copied_by_partners_on_eitaa(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    accounts = {
        name: {"token": f"eitaa-token-{name}-secret", "chat_id": f"@{channel}"}
        for name, channel in EITAA_CHANNELS.items()
    }
    document = source_document(sandbox, "eitaa", accounts, "copy", ("qom-governorate",))
    runtime = quick_runtime(document, redis_url, prefix, "eitaa")
    fake = sandbox.sandbox.fakes["eitaa"]

    async def person_posts_on_eitaa(text: str) -> str:
        return fake.person_posts("ostandari_qom_w", text)

    # The channel has history before Hamafza watches it: that is not taken.
    await person_posts_on_eitaa("پیام پیشین کانال")
    async with running(runtime, SERVICES) as workers:

        async def watching() -> bool:
            stream = f"{prefix}:updates:eitaa:page.ostandari_qom_w:offset"
            return bool(await redis.exists(stream))

        await wait_for(watching, what="the watcher's first look at the page")
        message_id = await person_posts_on_eitaa("ویژه‌برنامه‌های نیمه شعبان در قم")
        item_id = f"ch.eitaa.ostandari_qom_w.{message_id}"

        async def amplified() -> bool:
            statuses = await item_deliveries(redis, runtime.keys, item_id)
            return len(statuses) == 6 and all(s.state == "posted" for s in statuses)

        await wait_for(amplified, timeout=40, what="the Eitaa post published and amplified")
        await wait_idle(workers)
    eitaa = [p for p in sandbox.sandbox.posts_on("eitaa") if p.action != "channel"]
    copies = [p.text for p in eitaa]
    # Partners copied it with their own attributed wording, each different; nothing posted twice.
    assert len(copies) == 2 and len(set(copies)) == 2
    assert all("ویژه‌برنامه‌های نیمه شعبان در قم" in text and "استانداری قم" in text for text in copies)
    assert sorted((p.account, p.action) for p in sandbox.sandbox.posts_on("bale")) == [
        ("2201", "publish"),
        ("2202", "forward"),
        ("2203", "forward"),
    ]
    assert len(await redis.xrange(runtime.keys.items)) == 1


# --- Rubika: channel messages from the bots' getUpdates (which also shows bots their own posts) ------

RUBIKA_CHANNELS = {
    "qom-governorate": "c0QomOstandariWatch01",
    "qom-municipality": "c0QomShahrdariWatch02",
    "qom-red-crescent": "c0QomHelalWatch03",
}


async def test_a_rubika_channel_post_is_published_and_forwarded_with_no_loop(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    accounts = {
        name: {"bot_token": f"RUBIKAWATCH{index}TOKEN0000000000", "chat_id": channel}
        for index, (name, channel) in enumerate(RUBIKA_CHANNELS.items())
    }
    # Two agencies watch their Rubika channels and forward each other's posts.
    watchers = ("qom-governorate", "qom-municipality")
    runtime = quick_runtime(
        source_document(sandbox, "rubika", accounts, "forward", watchers), redis_url, prefix, "rubika"
    )
    fake = sandbox.sandbox.fakes["rubika"]

    async def person_posts_on_rubika(text: str) -> str:
        return fake.person_posts(RUBIKA_CHANNELS["qom-governorate"], text)

    await person_posts_on_rubika("پیام پیشین")  # before Hamafza watches: not taken
    async with running(runtime, SERVICES) as workers:

        async def watching() -> bool:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:updates:rubika:*:offset")]
            return len(keys) >= 2

        await wait_for(watching, what="the watchers' first look")
        message_id = await person_posts_on_rubika("ساعات کار موکب‌ها در نیمه شعبان")
        item_id = f"ch.rubika.{RUBIKA_CHANNELS['qom-governorate']}.{message_id}"

        async def amplified() -> bool:
            statuses = await item_deliveries(redis, runtime.keys, item_id)
            return len(statuses) == 6 and all(s.state == "posted" for s in statuses)

        await wait_for(amplified, timeout=40, what="the Rubika post published and forwarded")
        await wait_idle(workers)
        # The municipality's forward landed in its own watched channel, and Rubika shows bots their
        # own posts: it must not have become an item.
        await asyncio.sleep(1.0)
        items = await redis.xrange(runtime.keys.items)
    assert len(items) == 1
    forwards = [p for p in sandbox.sandbox.posts_on("rubika") if p.action == "forward"]
    assert len(forwards) == 2 and {p.source_post_id for p in forwards} == {message_id}
