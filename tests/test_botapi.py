"""Telegram, Bale and Soroush+ through the one Bot-API client, against the sandbox fakes over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters import (
    AmbiguousError,
    AuthError,
    ContentError,
    DeliveryError,
    MediaFile,
    PermanentError,
    RateLimitedError,
)
from adapters.bale import BaleAdapter
from adapters.botapi_errors import UpdatesConflict
from adapters.botfamily import BotApiAdapter, BotCredentials
from adapters.soroush import SoroushAdapter
from adapters.telegram import TelegramAdapter
from sandbox import Fault, RunningSandbox
from sandbox.telegram import TelegramFake
from schemas import Action, Delivery, Item, Media, PostRef
from tests.support.faults import assert_no_secret

PLATFORMS = ["telegram", "bale", "soroush"]
ADAPTERS: dict[str, type[BotApiAdapter]] = {
    "telegram": TelegramAdapter,
    "bale": BaleAdapter,
    "soroush": SoroushAdapter,
}
POST_HOSTS = {"telegram": "https://t.me", "bale": "https://ble.ir", "soroush": "https://splus.ir"}
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
OTHER_TOKEN = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDxyz"
SECRET = TOKEN.partition(":")[2]
CHANNEL = "@irna_news"
PARTNER = "@mrud_ir"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2_000
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 3_000
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


def photo(name: str = "a", data: bytes = JPEG, content_type: str = "image/jpeg") -> MediaFile:
    return MediaFile(url=f"https://irna.ir/{name}.jpg", content_type=content_type, data=data, alt="عکس")


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def adapter(sandbox: RunningSandbox, platform: str) -> AsyncIterator[BotApiAdapter]:
    base = sandbox.api_base(platform)
    instance = ADAPTERS[platform](api_base=base, timeout_seconds=5, web_base=base)
    yield instance
    await instance.aclose()


def fake(sandbox: RunningSandbox, platform: str) -> TelegramFake:
    found = sandbox.sandbox.fakes[platform]
    assert isinstance(found, TelegramFake)
    return found


# --- publishing ----------------------------------------------------------------------------------


async def test_publish_text_posts_once_in_the_channel(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    posted = await adapter.publish(credentials(), delivery(platform, link="https://irna.ir/news/1"))

    [post] = sandbox.sandbox.posts_on(platform)
    assert (post.chat, post.action, post.text, post.account) == (CHANNEL, "publish", "سلام دنیا", "123456789")
    assert posted.post_id == post.post_id and posted.chat == CHANNEL and posted.post_ids == ()
    assert posted.url == f"{POST_HOSTS[platform]}/irna_news/{posted.post_id}"


async def test_message_ids_increase_per_chat_and_numeric_chats_have_no_link(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    first = await adapter.publish(credentials(), delivery(platform))
    second = await adapter.publish(credentials(), delivery(platform))
    numeric = await adapter.publish(credentials(chat_id=-1001234567890), delivery(platform))

    assert int(second.post_id) == int(first.post_id) + 1
    assert numeric.post_id == "1" and numeric.chat == "-1001234567890" and numeric.url is None


@pytest.mark.parametrize(
    ("file", "stored"),
    [
        (photo(), "upload:media.jpg:2004"),
        (MediaFile(url="https://irna.ir/v.mp4", content_type="video/mp4", data=MP4), "upload:media.mp4:3012"),
        (photo(content_type="image/gif"), "upload:media.gif:2004"),  # a document: kept whole
    ],
    ids=["photo", "video", "document"],
)
async def test_one_file_is_uploaded_with_the_caption(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str, file: MediaFile, stored: str
) -> None:
    media = [Media(url=file.url)]
    posted = await adapter.publish(credentials(), delivery(platform, text="عکس روز", media=media), [file])

    [post] = sandbox.sandbox.posts_on(platform)
    assert post.media == [stored] and post.text == "عکس روز" and posted.post_id == post.post_id
    message = fake(sandbox, platform).messages[fake(sandbox, platform).chat_id_of("irna_news")][
        int(posted.post_id)
    ]
    kind = {"video/mp4": "video", "image/gif": "document"}.get(file.content_type, "photo")
    assert kind in message


async def test_two_pictures_become_one_album_with_every_id_kept(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    files = [photo("a"), photo("b", JPEG + b"\x01")]
    media = [Media(url=file.url) for file in files]

    posted = await adapter.publish(credentials(), delivery(platform, text="آلبوم", media=media), files)

    [post] = sandbox.sandbox.posts_on(platform)  # one post, two messages
    assert post.media == ["upload:media.jpg:2004", "upload:media.jpg:2005"]
    assert post.post_ids == list(posted.post_ids) and len(posted.post_ids) == 2
    assert posted.post_id == posted.post_ids[0] == post.post_id
    messages = fake(sandbox, platform).messages[fake(sandbox, platform).chat_id_of("irna_news")]
    first, second = (messages[int(post_id)] for post_id in posted.post_ids)
    assert first["caption"] == "آلبوم" and "caption" not in second
    assert first["media_group_id"] == second["media_group_id"]


async def test_album_by_url_without_fetched_bytes(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    media = [Media(url=f"https://irna.ir/{n}.jpg") for n in range(12)]

    posted = await adapter.publish(credentials(), delivery(platform, text="دوازده", media=media))

    [post] = sandbox.sandbox.posts_on(platform)
    assert len(post.media) == len(posted.post_ids) == 10  # media_limit: the rest are left out
    assert post.media[0] == "https://irna.ir/0.jpg"


@pytest.mark.parametrize(
    ("length", "with_media", "fits"),
    [(4096, False, True), (4097, False, False), (1024, True, True), (1025, True, False)],
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


async def test_too_long_caption_is_refused_by_the_platform_as_permanent(
    adapter: BotApiAdapter, platform: str
) -> None:
    with pytest.raises(PermanentError, match="caption is too long") as caught:
        await adapter.publish(credentials(), delivery(platform, text="ب" * 1025), [photo()])
    assert_no_secret(caught.value, SECRET)


# --- amplification -------------------------------------------------------------------------------


async def test_forward_records_the_source(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    original = await adapter.publish(credentials(PARTNER), delivery(platform, text="خبر اصلی"))
    source = PostRef(platform=platform, agency="mrud", post_id=original.post_id, chat=original.chat)

    forwarded = await adapter.amplify(credentials(CHANNEL), delivery(platform, action=Action.FORWARD), source)

    forward = sandbox.sandbox.posts_on(platform)[1]
    assert (forward.action, forward.chat, forward.source_chat, forward.text) == (
        "forward",
        CHANNEL,
        PARTNER,
        "خبر اصلی",
    )
    assert forward.source_post_id == original.post_id and forwarded.post_id == forward.post_id
    assert forwarded.url == f"{POST_HOSTS[platform]}/irna_news/{forwarded.post_id}"


async def test_forward_of_an_album_forwards_every_message(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    album = await adapter.publish(
        credentials(PARTNER), delivery(platform, text="آلبوم"), [photo("a"), photo("b")]
    )
    source = PostRef(
        platform=platform, agency="mrud", post_id=album.post_id, chat=PARTNER, post_ids=list(album.post_ids)
    )

    forwarded = await adapter.amplify(credentials(CHANNEL), delivery(platform, action=Action.FORWARD), source)

    forwards = [post for post in sandbox.sandbox.posts_on(platform) if post.action == "forward"]
    # One forwardMessages call where the provider has it; else one forwardMessage per picture.
    assert len(forwards) == (1 if adapter.profile.has_forward_many else 2)
    assert len(forwarded.post_ids) == 2 and forwarded.post_id == forwarded.post_ids[0]
    assert sum(len(post.media) for post in forwards) == 2


async def test_forward_of_an_unknown_message_is_permanent(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    source = PostRef(platform=platform, agency="mrud", post_id="999", chat=PARTNER)
    with pytest.raises(PermanentError, match=r"(?i)message to forward not found"):
        await adapter.amplify(credentials(), delivery(platform, action=Action.FORWARD), source)
    assert sandbox.sandbox.posts_on(platform) == []


async def test_copy_of_a_picture_keeps_the_file_under_the_partners_caption(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    original = await adapter.publish(credentials(PARTNER), delivery(platform, text="خبر اصلی"), [photo()])
    source = PostRef(platform=platform, agency="mrud", post_id=original.post_id, chat=PARTNER)
    copy = delivery(
        platform, text="به نقل از راه و شهرسازی", action=Action.COPY, media=[Media(url=photo().url)]
    )

    if Action.COPY not in adapter.amplify_actions:  # Soroush+ documents no copyMessage
        with pytest.raises(PermanentError, match="cannot copy"):
            await adapter.amplify(credentials(), copy, source)
        return
    posted = await adapter.amplify(credentials(), copy, source)

    copied = sandbox.sandbox.posts_on(platform)[1]
    assert (copied.action, copied.text, copied.media) == (
        "copy",
        "به نقل از راه و شهرسازی",
        ["upload:media.jpg:2004"],
    )
    assert copied.source_post_id == original.post_id and posted.post_id == copied.post_id
    assert (
        "forward_origin"
        not in fake(sandbox, platform).messages[fake(sandbox, platform).chat_id_of("irna_news")][1]
    )


async def test_copy_of_text_posts_the_partners_own_wording(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    if Action.COPY not in adapter.amplify_actions:
        pytest.skip("no copy on this provider")
    source = PostRef(platform=platform, agency="mrud", post_id="1", chat=PARTNER)
    await adapter.amplify(credentials(), delivery(platform, text="متن خود شریک", action=Action.COPY), source)
    [post] = sandbox.sandbox.posts_on(platform)
    assert (post.action, post.text) == ("publish", "متن خود شریک")


# --- errors --------------------------------------------------------------------------------------


async def test_dropped_response_is_ambiguous_and_the_post_exists(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.sandbox.add_fault(platform, Fault(kind="drop"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(credentials(), delivery(platform))
    assert_no_secret(caught.value, SECRET)
    assert SECRET not in caplog.text
    assert len(sandbox.sandbox.posts_on(platform)) == 1


async def test_slow_answer_is_ambiguous(sandbox: RunningSandbox, platform: str) -> None:
    sandbox.sandbox.latency_ms[platform] = 1_500
    slow = ADAPTERS[platform](api_base=sandbox.api_base(platform), timeout_seconds=0.5)
    try:
        with pytest.raises(AmbiguousError) as caught:
            await slow.publish(credentials(), delivery(platform))
    finally:
        await slow.aclose()
    assert_no_secret(caught.value, SECRET)


@pytest.mark.parametrize(
    ("chat_id", "expected", "message"),
    [("@notmember_channel", AuthError, "admin"), ("@migrated_group", PermanentError, "chat moved to")],
)
async def test_channel_setup_problems(
    adapter: BotApiAdapter, platform: str, chat_id: str, expected: type[DeliveryError], message: str
) -> None:
    with pytest.raises(expected, match=message) as caught:
        await adapter.publish(credentials(chat_id), delivery(platform))
    assert_no_secret(caught.value, SECRET)


async def test_a_token_the_provider_does_not_know_is_an_auth_error(
    adapter: BotApiAdapter, platform: str
) -> None:
    # Telegram answers 401, Bale 404: both are the token's fault.
    with pytest.raises(AuthError, match="renew") as caught:
        await adapter.client.send_message("not-a-token-SECRETPART", CHANNEL, "x")
    assert_no_secret(caught.value, "SECRETPART")


async def test_flood_limit_per_chat(sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str) -> None:
    for _ in range(20):
        await adapter.publish(credentials(), delivery(platform))
    with pytest.raises(RateLimitedError) as caught:
        await adapter.publish(credentials(), delivery(platform))
    assert caught.value.reset_at > datetime.now(UTC) + timedelta(seconds=30)
    assert len(sandbox.sandbox.posts_on(platform)) == 20
    await adapter.publish(credentials(PARTNER), delivery(platform))  # other chats are unaffected


# --- audience and updates ------------------------------------------------------------------------


async def test_member_count_uses_the_providers_method(adapter: BotApiAdapter, platform: str) -> None:
    # Bale's fake only knows getChatMembersCount, Telegram's only getChatMemberCount.
    members = await adapter.audience(credentials())
    assert members is not None and members > 0 and members == await adapter.audience(credentials())


async def test_updates_deliver_other_bots_channel_posts_where_the_provider_does(
    adapter: BotApiAdapter, platform: str
) -> None:
    await adapter.publish(
        credentials(token=OTHER_TOKEN), delivery(platform, text="اول")
    )  # the watcher is admin
    await adapter.publish(credentials(), delivery(platform, text="دوم"))

    updates = await adapter.client.get_updates(OTHER_TOKEN, allowed_updates=["channel_post"])

    if not adapter.profile.channel_posts_in_updates:  # Bale documents no channel_post
        assert updates == []
        return
    assert [update["channel_post"]["text"] for update in updates] == ["دوم"]
    confirmed = await adapter.client.get_updates(OTHER_TOKEN, offset=updates[-1]["update_id"] + 1)
    assert confirmed == []
    assert await adapter.client.get_updates(TOKEN) == []  # a bot gets no update of its own post


async def test_a_second_concurrent_reader_gets_409(
    sandbox: RunningSandbox, adapter: BotApiAdapter, platform: str
) -> None:
    first = asyncio.get_running_loop().create_task(adapter.client.get_updates(TOKEN, timeout=3))
    await asyncio.sleep(0.3)
    with pytest.raises(UpdatesConflict, match="another process") as caught:
        await adapter.client.get_updates(TOKEN, timeout=0)
    assert_no_secret(caught.value, SECRET)
    fake(sandbox, platform).updates.push("123456789", "message", {"message_id": 1, "text": "/start"})
    assert [update["message"]["text"] for update in await first] == ["/start"]
    assert len(await adapter.client.get_updates(TOKEN)) == 1  # not confirmed yet: read again


# --- credentials ---------------------------------------------------------------------------------


def test_credentials_validation_hides_the_token() -> None:
    with pytest.raises(ValidationError) as caught:
        BotCredentials(bot_token="not-a-token-SECRETPART", chat_id="@x")
    assert "SECRETPART" not in str(caught.value)
    assert credentials(chat_id=-100123).chat_id == "-100123"


def test_profiles_declare_the_providers_differences() -> None:
    assert TelegramAdapter.amplify_actions == BaleAdapter.amplify_actions == {Action.FORWARD, Action.COPY}
    assert SoroushAdapter.amplify_actions == {Action.FORWARD}
    assert SoroushAdapter.default_api_base == "https://api.splus.ir"
    assert BaleAdapter.profile.member_count_method == "getChatMembersCount"
    assert not BaleAdapter.profile.has_secret_token and "supergroup" not in BaleAdapter.profile.chat_types
    assert TelegramAdapter.media_limit == 10 and TelegramAdapter.supports_metrics
    assert not BaleAdapter.supports_metrics and not SoroushAdapter.supports_metrics
