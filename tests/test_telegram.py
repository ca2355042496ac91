"""Telegram and Bale through python-telegram-bot against the sandbox fake, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    ContentError,
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from adapters.bale import BaleAdapter
from adapters.telegram import BotCredentials, TelegramAdapter
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, Item, Media, PostRef

PLATFORMS = ["telegram", "bale"]
ADAPTERS: dict[str, type[TelegramAdapter]] = {"telegram": TelegramAdapter, "bale": BaleAdapter}
POST_HOSTS = {"telegram": "https://t.me", "bale": "https://ble.ir"}
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHANNEL = "@irna_news"
PARTNER = "@mrud_ir"
# "خبرگزاری" carries a ZWNJ (U+200C), which counts as one character like any other.
PERSIAN_WORD = "خبر‌گزاری "


def delivery(
    platform: str, text: str = "سلام دنیا", action: Action = Action.PUBLISH, **fields: object
) -> Delivery:
    return Delivery(
        id=Delivery.make_id("item-1", "irna", platform, action),
        item_id="item-1",
        agency="irna",
        platform=platform,
        action=action,
        origin_agency="irna",
        text=text,
        **fields,
    )


def credentials(chat_id: str | int = CHANNEL, token: str = TOKEN) -> BotCredentials:
    return BotCredentials(bot_token=token, chat_id=chat_id)


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def adapter(sandbox: RunningSandbox, platform: str) -> AsyncIterator[TelegramAdapter]:
    instance = ADAPTERS[platform](api_base=sandbox.api_base(platform), timeout_seconds=5)
    yield instance
    await instance.aclose()


def assert_no_token(error: BaseException) -> None:
    secret = TOKEN.partition(":")[2]
    assert secret not in str(error)
    assert secret not in repr(error)


# --- publishing ----------------------------------------------------------------------------------


async def test_publish_text_posts_once_in_the_channel(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    posted = await adapter.publish(credentials(), delivery(platform, link="https://irna.ir/news/1"))

    posts = sandbox.sandbox.posts_on(platform)
    assert len(posts) == 1
    assert posts[0].chat == CHANNEL
    assert posts[0].action == "publish"
    assert posts[0].text == "سلام دنیا"
    assert posts[0].account == "123456789"
    assert posted.post_id == posts[0].post_id
    assert posted.chat == CHANNEL
    assert posted.url == f"{POST_HOSTS[platform]}/irna_news/{posted.post_id}"


async def test_message_ids_increase_per_chat(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    first = await adapter.publish(credentials(), delivery(platform))
    second = await adapter.publish(credentials(), delivery(platform))
    elsewhere = await adapter.publish(credentials(PARTNER), delivery(platform))

    assert int(second.post_id) == int(first.post_id) + 1
    assert elsewhere.post_id == "1"


async def test_numeric_chat_ids_are_accepted(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    posted = await adapter.publish(credentials(chat_id=-1001234567890), delivery(platform))

    assert posted.chat == "-1001234567890"
    assert posted.url is None  # a channel without a username has no public link
    assert sandbox.sandbox.posts_on(platform)[0].chat == "-1001234567890"


async def test_publish_with_media_sends_a_photo_with_caption(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    media = [Media(url="https://irna.ir/a.jpg"), Media(url="https://irna.ir/b.jpg")]

    await adapter.publish(credentials(), delivery(platform, text="عکس روز", media=media))

    [post] = sandbox.sandbox.posts_on(platform)
    assert post.media == ["https://irna.ir/a.jpg"]  # media_limit is 1: only the first goes out
    assert post.text == "عکس روز"


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "with_media", "fits"),
    [
        (4096, False, True),
        (4097, False, False),
        (1024, True, True),
        (1025, True, False),
    ],
)
def test_render_limits_count_persian_text_with_zwnj(
    platform: str, length: int, with_media: bool, fits: bool
) -> None:
    text = ("ایران " + PERSIAN_WORD * length)[: length - 1] + "."
    media = [{"url": "https://irna.ir/a.jpg"}] if with_media else []
    item = Item.model_validate({"agency": "irna", "text": text, "media": media})
    adapter = ADAPTERS[platform]()
    assert len(text) == length

    if fits:
        assert adapter.render(item) == text
    else:
        with pytest.raises(ContentError, match="caption" if with_media else "4096"):
            adapter.render(item)


async def test_too_long_text_is_refused_by_the_platform_as_permanent(
    adapter: TelegramAdapter, platform: str
) -> None:
    with pytest.raises(PermanentError, match="too long") as caught:
        await adapter.publish(credentials(), delivery(platform, text="ب" * 4097))
    assert_no_token(caught.value)


async def test_too_long_caption_is_refused_by_the_platform_as_permanent(
    adapter: TelegramAdapter, platform: str
) -> None:
    media = [Media(url="https://irna.ir/a.jpg")]
    with pytest.raises(PermanentError, match="caption is too long"):
        await adapter.publish(credentials(), delivery(platform, text="ب" * 1025, media=media))


# --- amplification -------------------------------------------------------------------------------


async def test_forward_records_the_source(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    original = await adapter.publish(credentials(PARTNER), delivery(platform, text="خبر اصلی"))
    source = PostRef(platform=platform, agency="mrud", post_id=original.post_id, chat=original.chat)

    forwarded = await adapter.amplify(credentials(CHANNEL), delivery(platform, action=Action.FORWARD), source)

    posts = sandbox.sandbox.posts_on(platform)
    assert [post.action for post in posts] == ["publish", "forward"]
    forward = posts[1]
    assert forward.chat == CHANNEL
    assert forward.source_post_id == original.post_id
    assert forward.source_chat == PARTNER
    assert forward.text == "خبر اصلی"
    assert forwarded.post_id == forward.post_id
    assert forwarded.url == f"{POST_HOSTS[platform]}/irna_news/{forwarded.post_id}"


async def test_forward_of_an_unknown_message_is_permanent(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    source = PostRef(platform=platform, agency="mrud", post_id="999", chat=PARTNER)

    with pytest.raises(PermanentError, match=r"(?i)message to forward not found"):
        await adapter.amplify(credentials(), delivery(platform, action=Action.FORWARD), source)
    assert sandbox.sandbox.posts_on(platform) == []


async def test_other_amplify_actions_are_refused(adapter: TelegramAdapter, platform: str) -> None:
    source = PostRef(platform=platform, agency="mrud", post_id="1", chat=PARTNER)
    with pytest.raises(PermanentError):
        await adapter.amplify(credentials(), delivery(platform, action=Action.REPOST), source)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(kind="error", status=502), RetryableError),
        (Fault(kind="error", status=500), RetryableError),
        (Fault(kind="error", status=503), RetryableError),
        (Fault(kind="auth"), AuthError),
        (Fault(kind="error", status=403), AuthError),
        (Fault(kind="error", status=400), PermanentError),
        (Fault(kind="rate_limit", reset_seconds=7), RateLimitedError),
    ],
    ids=lambda value: (
        (f"{value.kind}-{value.status}" if value.kind == "error" else value.kind)
        if isinstance(value, Fault)
        else value.__name__
    ),
)
async def test_platform_faults_map_to_typed_errors(
    sandbox: RunningSandbox,
    adapter: TelegramAdapter,
    platform: str,
    fault: Fault,
    expected: type[DeliveryError],
) -> None:
    sandbox.sandbox.add_fault(platform, fault)

    with pytest.raises(expected) as caught:
        await adapter.publish(credentials(), delivery(platform))

    assert type(caught.value) is expected
    assert_no_token(caught.value)
    assert sandbox.sandbox.posts_on(platform) == []
    if isinstance(caught.value, RateLimitedError):
        expected_reset = datetime.now(UTC) + timedelta(seconds=fault.reset_seconds)
        assert abs((caught.value.reset_at - expected_reset).total_seconds()) < 2


async def test_dropped_response_is_ambiguous_and_the_post_exists(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    sandbox.sandbox.add_fault(platform, Fault(kind="drop"))

    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(credentials(), delivery(platform))

    assert_no_token(caught.value)
    assert len(sandbox.sandbox.posts_on(platform)) == 1


async def test_slow_answer_is_ambiguous(sandbox: RunningSandbox, platform: str) -> None:
    sandbox.sandbox.latency_ms[platform] = 1_500
    slow = ADAPTERS[platform](api_base=sandbox.api_base(platform), timeout_seconds=0.5)
    try:
        with pytest.raises(AmbiguousError) as caught:
            await slow.publish(credentials(), delivery(platform))
    finally:
        await slow.aclose()
    assert_no_token(caught.value)


@pytest.mark.parametrize(
    ("chat_id", "expected", "message"),
    [
        ("@notmember_channel", AuthError, "admin"),
        ("@migrated_group", PermanentError, "chat moved to"),
    ],
)
async def test_channel_setup_problems(
    adapter: TelegramAdapter, platform: str, chat_id: str, expected: type[DeliveryError], message: str
) -> None:
    with pytest.raises(expected, match=message) as caught:
        await adapter.publish(credentials(chat_id), delivery(platform))
    assert_no_token(caught.value)


async def test_unknown_bot_token_is_an_auth_error(
    sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str
) -> None:
    # The sandbox accepts any well-formed token, so the fault stands in for one Telegram revoked.
    sandbox.sandbox.add_fault(platform, Fault(kind="auth", path="sendPhoto"))
    media = [Media(url="https://irna.ir/a.jpg")]

    with pytest.raises(AuthError) as caught:
        await adapter.publish(credentials(), delivery(platform, media=media))
    assert_no_token(caught.value)


async def test_flood_limit_per_chat(sandbox: RunningSandbox, adapter: TelegramAdapter, platform: str) -> None:
    for _ in range(20):
        await adapter.publish(credentials(), delivery(platform))

    with pytest.raises(RateLimitedError) as caught:
        await adapter.publish(credentials(), delivery(platform))

    assert caught.value.reset_at > datetime.now(UTC) + timedelta(seconds=30)
    assert len(sandbox.sandbox.posts_on(platform)) == 20
    await adapter.publish(credentials(PARTNER), delivery(platform))  # other chats are unaffected


async def test_reconcile_cannot_tell(adapter: TelegramAdapter, platform: str) -> None:
    with pytest.raises(CannotReconcile):
        await adapter.reconcile(credentials(), delivery(platform))


# --- credentials and fake extras -----------------------------------------------------------------


def test_credentials_validation_hides_the_token() -> None:
    with pytest.raises(ValidationError) as caught:
        BotCredentials(bot_token="not-a-token-SECRETPART", chat_id="@x")
    assert "SECRETPART" not in str(caught.value)
    assert credentials(chat_id=-100123).chat_id == "-100123"


def test_account_label_names_the_chat(platform: str) -> None:
    assert ADAPTERS[platform]().account_label(credentials()) == f"{platform}:{CHANNEL}"


async def test_fake_answers_reads_and_json_bodies(sandbox: RunningSandbox, adapter: TelegramAdapter) -> None:
    bot = adapter._bot(TOKEN)
    me = await bot.get_me()
    chat = await bot.get_chat(CHANNEL)
    members = await bot.get_chat_member_count(CHANNEL)

    assert me.id == 123456789
    assert chat.username == "irna_news"
    assert members == await bot.get_chat_member_count(CHANNEL) > 0

    import aiohttp

    url = f"{sandbox.api_base(adapter.platform)}/bot{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"chat_id": CHANNEL, "text": "json"}) as response:
            assert (await response.json())["result"]["text"] == "json"
        async with session.post(url, json={"chat_id": "nobody", "text": "x"}) as response:
            body = await response.json()
            assert response.status == 400 and body["ok"] is False and "description" in body
        async with session.post(url.replace(TOKEN, "garbage"), data={"chat_id": CHANNEL}) as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
