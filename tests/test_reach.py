"""Reach collection: snapshots scheduled after each post, batched per account, kept in Redis, and
taken again after a restart; the X and Telegram adapters' metrics and audience against the sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from adapters.telegram import BotCredentials, TelegramAdapter
from adapters.telegram_preview import parse_count
from adapters.x import XAdapter, XCredentials
from sandbox import Fault, RunningSandbox
from sandbox.telegram import TelegramFake
from sandbox.telegram_page import shown_count
from schemas import Action, Delivery
from services.app import build_runtime
from services.config import parse_network
from services.keys import ReachKeys
from services.reach import collect as reach_module
from services.reach.collect import Reach
from services.reach.snapshots import ReachSettings, ReachSnapshot, TrackedPost, parse_offsets
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.sandbox_network import bot_token as shared_bot_token
from tests.support.sandbox_network import x_telegram_network

# agency → (name, X user id, Telegram chat)
AGENCIES = {
    "khz-roads": ("اداره کل راه و شهرسازی خوزستان", "1001", "@khz_roads"),
    "khz-rail": ("اداره کل راه‌آهن جنوب", "1002", "@south_rail"),
    "khz-ports": ("اداره کل بنادر و دریانوردی خوزستان", "1003", "@khz_ports"),
    "khz-water": ("شرکت آب و فاضلاب خوزستان", "1004", "@khz_water"),
}
NETWORK_MEMBERS = ["khz-roads", "khz-rail", "khz-ports"]  # khz-water works alone


def bot_token(agency: str) -> str:
    return shared_bot_token(AGENCIES, agency)


def network_document(sandbox: RunningSandbox) -> dict[str, Any]:
    return x_telegram_network(sandbox, AGENCIES, NETWORK_MEMBERS, (0, 0.2))


def make_runtime(sandbox: RunningSandbox, redis_url: str, prefix: str) -> Runtime:
    from adapters import load_adapters

    registry = {name: cls for name, cls in load_adapters().items() if name in {"x", "telegram"}}
    network = parse_network(network_document(sandbox), registry)
    settings = Settings(prefix=prefix, claim_idle_ms=1000, scheduler_interval_seconds=0.05)
    return build_runtime(network, redis_url, settings, registry)


ITEMS = [
    {
        "id": "tw-1",
        "agency": "khz-roads",
        "text": "آغاز هفته حمل‌ونقل؛ ۱۲ طرح افتتاح می‌شود.",
        "campaign": "tw",
    },
    {"id": "tw-2", "agency": "khz-rail", "text": "قطار گردشگری اهواز–اندیمشک راه افتاد.", "campaign": "tw"},
    {"id": "tw-3", "agency": "khz-ports", "text": "رکورد تخلیه کانتینر در بندر امام.", "campaign": "tw"},
    {"id": "wt-1", "agency": "khz-water", "text": "قطعی برنامه‌ریزی‌شده آب در کیانپارس.", "campaign": "water"},
]


async def publish_all(runtime: Runtime, redis: Redis, items: list[dict[str, Any]] = ITEMS) -> None:
    for item in items:
        await redis.xadd(runtime.keys.items, xadd_fields(item))


# --- what the fakes say, fetched over HTTP independently of the adapters -------------------------


async def fake_tweet_metrics(sandbox: RunningSandbox, ids: list[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer independent-check"}) as http:
        for start in range(0, len(ids), 100):
            chunk = ",".join(ids[start : start + 100])
            async with http.get(
                f"{sandbox.api_base('x')}/2/tweets", params={"ids": chunk, "tweet.fields": "public_metrics"}
            ) as response:
                body = await response.json()
            found.update({tweet["id"]: tweet["public_metrics"] for tweet in body.get("data", [])})
    return found


async def fake_followers(sandbox: RunningSandbox, user_id: str) -> int:
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer independent-check"}) as http,
        http.get(
            f"{sandbox.api_base('x')}/2/users/{user_id}", params={"user.fields": "public_metrics"}
        ) as response,
    ):
        body = await response.json()
    return int(body["data"]["public_metrics"]["followers_count"])


async def fake_members(sandbox: RunningSandbox, agency: str) -> int:
    chat = AGENCIES[agency][2]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sandbox.api_base('telegram')}/bot{bot_token(agency)}/getChatMemberCount",
            json={"chat_id": chat},
        ) as response,
    ):
        body = await response.json()
    return int(body["result"])


def telegram_views(sandbox: RunningSandbox, agency: str, post_id: str) -> int:
    fake = sandbox.sandbox.fakes["telegram"]
    assert isinstance(fake, TelegramFake)
    return fake.views[(fake.chat_id_of(AGENCIES[agency][2].lstrip("@")), int(post_id))]


async def fake_audience(sandbox: RunningSandbox) -> dict[tuple[str, str], int]:
    """(platform, agency) → followers or members, as the fakes answer them."""
    audience: dict[tuple[str, str], int] = {}
    for agency, (_, uid, _) in AGENCIES.items():
        audience[("x", agency)] = await fake_followers(sandbox, uid)
        audience[("telegram", agency)] = await fake_members(sandbox, agency)
    return audience


# --- units ---------------------------------------------------------------------------------------


def test_offsets_parse_as_durations_in_order() -> None:
    assert parse_offsets("24h, 1h,90s,3d") == (
        ("90s", 90.0),
        ("1h", 3600.0),
        ("24h", 86400.0),
        ("3d", 259200.0),
    )
    assert ReachSettings().offsets == (("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0), ("72h", 259200.0))
    with pytest.raises(ValueError, match="not a duration"):
        parse_offsets("1 week")


async def test_a_backfilled_post_gets_only_its_latest_past_offset(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix)
    reach = Reach(runtime, ReachSettings())
    posted = datetime(2025, 3, 21, 8, 0, tzinfo=UTC)
    post = TrackedPost(
        delivery_id="a/khz-roads/x/publish",
        item_id="a",
        agency="khz-roads",
        origin_agency="khz-roads",
        platform="x",
        action="publish",
        post_id="1",
        posted_at=posted,
    )
    planned = reach.plan(post, posted + timedelta(hours=7))
    assert [(request.offset, due) for request, due in planned] == [
        ("6h", posted + timedelta(hours=6)),
        ("24h", posted + timedelta(hours=24)),
        ("72h", posted + timedelta(hours=72)),
    ]
    await runtime.aclose()
    await runtime.redis.aclose()


# --- adapters against the fakes ------------------------------------------------------------------


@pytest.fixture
async def x(sandbox: RunningSandbox) -> AsyncIterator[XAdapter]:
    adapter = XAdapter(api_base=sandbox.api_base("x"), timeout_seconds=5)
    yield adapter
    await adapter.aclose()


async def test_x_metrics_and_followers_are_the_fakes(x: XAdapter, sandbox: RunningSandbox) -> None:
    credentials = XCredentials(
        consumer_key="ck", consumer_secret="cs", access_token="4242-token", access_token_secret="ats"
    )
    assert XAdapter.supports_metrics and XAdapter.metrics_batch_size == 100
    ids = []
    for n in range(3):
        posted = await x._tweet(credentials, f"خبر شماره {n}")
        ids.append(posted.post_id)
    metrics = await x.metrics(credentials, [*ids, "rt-123", "999"])
    expected = await fake_tweet_metrics(sandbox, ids)
    assert set(metrics) == set(ids)
    for tweet_id in ids:
        assert metrics[tweet_id].impressions == expected[tweet_id]["impression_count"]
        assert metrics[tweet_id].likes == expected[tweet_id]["like_count"]
        assert metrics[tweet_id].reposts == expected[tweet_id]["retweet_count"]
        assert metrics[tweet_id].replies == expected[tweet_id]["reply_count"]
        assert metrics[tweet_id].quotes == expected[tweet_id]["quote_count"]
    assert await x.audience(credentials) == await fake_followers(sandbox, "4242")
    assert await x.metrics(credentials, ["rt-1"]) == {}


async def test_telegram_gives_channel_members_and_views_from_the_public_preview(
    sandbox: RunningSandbox,
) -> None:
    base = sandbox.api_base("telegram")
    adapter = TelegramAdapter(api_base=base, web_base=base, timeout_seconds=5)
    credentials = BotCredentials(bot_token=bot_token("khz-rail"), chat_id="@south_rail")
    try:
        assert TelegramAdapter.supports_metrics
        assert await adapter.audience(credentials) == await fake_members(sandbox, "khz-rail")
        assert await adapter.metrics(credentials, ["1", "2"]) == {}  # nothing posted yet
        posted = await adapter.publish(
            credentials,
            Delivery(
                id="tw-9/khz-rail/telegram/publish",
                item_id="tw-9",
                agency="khz-rail",
                platform="telegram",
                action=Action.PUBLISH,
                origin_agency="khz-rail",
                text="قطار",
            ),
        )
        views = (await adapter.metrics(credentials, [posted.post_id]))[posted.post_id].views
        assert views is not None and views > 0
    finally:
        await adapter.aclose()


# --- the service ---------------------------------------------------------------------------------


class _Events:
    """A stand-in for a structlog logger that keeps every event with its fields."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _keep(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})

    info = warning = exception = _keep


async def snapshots_in_stream(redis: Redis, keys: ReachKeys) -> list[ReachSnapshot]:
    entries: Any = await redis.xrange(keys.snapshots)
    return [ReachSnapshot.model_validate_json(fields[b"data"]) for _, fields in entries]


async def test_each_post_is_snapshotted_at_each_offset_batched_per_account_and_survives_a_restart(
    sandbox: RunningSandbox,
    redis_url: str,
    prefix: str,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAMAFZA_REACH_OFFSETS", "3s,4s")
    keys = ReachKeys(prefix)
    runtime = make_runtime(sandbox, redis_url, prefix)
    async with running(runtime) as workers:
        await publish_all(runtime, redis, ITEMS[:2])
        await wait_idle(workers)
    posts = sandbox.sandbox.posts
    assert len(posts) == 2 * 2 + 2 * 2 * 2  # two items, two platforms, two partners each
    # Between the two runs nothing is measured yet; the requests wait in Redis, not in a process.
    assert await snapshots_in_stream(redis, keys) == []
    assert await redis.zcard(keys.schedule) == 2 * len(posts)
    assert await redis.zcard(runtime.keys.schedule) == 0  # `status` and the demo still see idle work

    calls: list[tuple[str, int]] = []
    runtime = make_runtime(sandbox, redis_url, prefix)
    x_adapter = runtime.adapters["x"]
    original = x_adapter.metrics

    async def counting(credentials: Any, post_ids: list[str]) -> Any:
        calls.append((credentials.user_id, len(post_ids)))
        return await original(credentials, post_ids)

    monkeypatch.setattr(x_adapter, "metrics", counting)
    # The service's logger, recorded whatever logging configuration an earlier test left behind.
    records = _Events()
    monkeypatch.setattr(reach_module, "log", records)
    async with running(runtime):

        async def all_taken() -> bool:
            return len(await snapshots_in_stream(redis, keys)) >= 2 * len(posts)

        await wait_for(all_taken, timeout=20, what="two snapshots of every post")
        await asyncio.sleep(0.3)
    snapshots = await snapshots_in_stream(redis, keys)
    assert len(snapshots) == 2 * len(posts)
    assert sorted({s.offset for s in snapshots}) == ["3s", "4s"]
    # X metrics: one call per account and offset, for its own tweets only (retweets have no metrics).
    assert sorted(calls) == [("1001", 1), ("1001", 1), ("1002", 1), ("1002", 1)]
    audience = await fake_audience(sandbox)
    metrics = await fake_tweet_metrics(
        sandbox, [p.post_id for p in posts if p.platform == "x" and p.action == "publish"]
    )
    for snapshot in snapshots:
        assert snapshot.audience == audience[(snapshot.platform, snapshot.agency)]
        if snapshot.platform == "x" and snapshot.action == "publish":
            assert snapshot.impressions == metrics[snapshot.post_id]["impression_count"]
            assert snapshot.likes == metrics[snapshot.post_id]["like_count"]
        elif snapshot.platform == "telegram" and snapshot.action == "publish":
            # Views from the public preview, as the page rounds them ("23.4K").
            shown = parse_count(shown_count(telegram_views(sandbox, snapshot.agency, snapshot.post_id)))
            assert snapshot.views == snapshot.impressions == shown
        else:
            assert snapshot.impressions is None
    latest = await redis.hget(keys.post("tw-1/khz-roads/x/publish"), "latest")
    assert latest is not None and ReachSnapshot.model_validate_json(latest).offset in {"3s", "4s"}
    logged = [event for event in records.events if event.get("event") == "reach.snapshot"]
    assert len(logged) == 2 * len(posts)
    assert {"item_id", "agency", "platform", "account", "action", "offset", "audience"} <= logged[0].keys()
    assert await redis.zcard(keys.schedule) == 0


async def test_a_failing_platform_read_is_retried_later_not_lost(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAMAFZA_REACH_OFFSETS", "1s")
    keys = ReachKeys(prefix)
    runtime = make_runtime(sandbox, redis_url, prefix)
    sandbox.sandbox.add_fault(
        "x", Fault(kind="error", status=503, times=5, path="/2/users/", methods=("GET",))
    )
    async with running(runtime, ["fanout", "deliver", "scheduler", "reach"]):
        await publish_all(runtime, redis, [{**ITEMS[3], "platforms": ["x", "telegram"]}])

        async def retry_waiting() -> bool:
            members: Any = await redis.zrange(keys.schedule, 0, -1)
            return any(json.loads(json.loads(m)["data"]).get("attempt") == 1 for m in members)

        await wait_for(retry_waiting, timeout=15, what="the X snapshot to be rescheduled")

        async def telegram_taken() -> bool:
            return any(s.platform == "telegram" for s in await snapshots_in_stream(redis, keys))

        await wait_for(telegram_taken, timeout=10, what="the Telegram snapshot")
    # One account's failure does not hold back the others.
    assert [s.platform for s in await snapshots_in_stream(redis, keys)] == ["telegram"]


async def test_poll_now_measures_tracked_posts_and_all_measures_old_ones_too(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(sandbox, redis_url, prefix)
    async with running(runtime) as workers:
        await publish_all(runtime, redis, ITEMS[3:])
        await wait_idle(workers)
    keys = ReachKeys(prefix)
    # Pretend the water company's X post is a month old: out of the 72 h window.
    await redis.zadd(keys.posts, {"wt-1/khz-water/x/publish": 1_000})
    runtime = make_runtime(sandbox, redis_url, prefix)
    try:
        recent = await Reach(runtime).poll()
        assert [s.delivery_id for s in recent] == ["wt-1/khz-water/telegram/publish"]
        every = await Reach(runtime).poll(every_post=True)
        assert sorted(s.delivery_id for s in every) == [
            "wt-1/khz-water/telegram/publish",
            "wt-1/khz-water/x/publish",
        ]
        assert {s.offset for s in every} == {"poll"}
    finally:
        await runtime.aclose()
        await runtime.redis.aclose()
