"""Rubika through its Bot API v3 (aiohttp), against the sandbox's Rubika fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    MediaFile,
    PermanentError,
    RetryableError,
)
from adapters.rubika import RubikaAdapter, RubikaCredentials
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, PostRef
from tests.support.faults import assert_no_secret

TOKEN = "RUBIKASECRETTOKEN0123456789abcdefXYZ"
CHANNEL = "c0QomGov0a1b2c3d4e5f60718293a4b5c6"
PARTNER = "c0QomCity9f8e7d6c5b4a39281706f5e4d3"
PHOTO = MediaFile(url="https://qom.ir/a.jpg", content_type="image/jpeg", data=b"\xff\xd8\xff" + b"1" * 500)
VIDEO = MediaFile(url="https://qom.ir/a.mp4", content_type="video/mp4", data=b"\x00\x00\x00\x18ftypmp42" * 50)


def creds(chat_id: str = CHANNEL, token: str = TOKEN) -> RubikaCredentials:
    return RubikaCredentials(bot_token=token, chat_id=chat_id)


def delivery(text: str = "سلام روبیکا", action: Action = Action.PUBLISH, agency: str = "qom-gov") -> Delivery:
    return Delivery(
        id=Delivery.make_id("news-1", agency, "rubika", action),
        item_id="news-1",
        agency=agency,
        platform="rubika",
        action=action,
        origin_agency="qom-gov",
        text=text,
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[RubikaAdapter]:
    instance = RubikaAdapter(api_base=sandbox.api_base("rubika"), timeout_seconds=3)
    yield instance
    await instance.aclose()


async def test_publish_text_is_one_send_message(sandbox: RunningSandbox, adapter: RubikaAdapter) -> None:
    posted = await adapter.publish(creds(), delivery())
    (post,) = sandbox.sandbox.posts_on("rubika")
    assert (post.text, post.chat, post.media) == ("سلام روبیکا", CHANNEL, [])
    assert posted.post_id == post.post_id and posted.chat == CHANNEL


async def test_a_photo_goes_in_three_steps(sandbox: RunningSandbox, adapter: RubikaAdapter) -> None:
    fake = sandbox.sandbox.fakes["rubika"]
    posted = await adapter.publish(creds(), delivery("عکس خبر"), [PHOTO, VIDEO])
    (post,) = sandbox.sandbox.posts_on("rubika")
    # requestSendFile(Image) → the upload URL took the bytes → sendFile with the file id and the text;
    # one file a message (no albums on Rubika), so the second medium is left out.
    assert post.media == ["upload:Image:media.jpg"] and post.text == "عکس خبر"
    assert posted.post_id == post.post_id
    assert fake.uploads == {}  # every upload URL was used once  # type: ignore[attr-defined]
    await adapter.publish(creds(), delivery("فیلم"), [VIDEO])
    assert sandbox.sandbox.posts_on("rubika")[1].media == ["upload:Video:media.mp4"]


async def test_forward_is_the_amplification(sandbox: RunningSandbox, adapter: RubikaAdapter) -> None:
    original = await adapter.publish(creds(), delivery("خبر استانداری"))
    source = PostRef(platform="rubika", agency="qom-gov", post_id=original.post_id, chat=original.chat)
    forwarded = await adapter.amplify(
        creds(PARTNER, "RUBIKAPARTNERTOKEN0123456789"),
        delivery(action=Action.FORWARD, agency="qom-city"),
        source,
    )
    _, forward = sandbox.sandbox.posts_on("rubika")
    assert forward.action == "forward" and forward.chat == PARTNER
    assert (forward.source_chat, forward.source_post_id) == (CHANNEL, original.post_id)
    assert forwarded.post_id == forward.post_id and forwarded.chat == PARTNER
    assert RubikaAdapter.action_for("forward") is Action.FORWARD and RubikaAdapter.action_for("copy") is None


async def test_forwarding_a_missing_message_is_permanent(adapter: RubikaAdapter) -> None:
    source = PostRef(platform="rubika", agency="qom-gov", post_id="404", chat=CHANNEL)
    with pytest.raises(PermanentError, match="not found"):
        await adapter.amplify(creds(PARTNER), delivery(action=Action.FORWARD), source)


async def test_audience_and_updates(adapter: RubikaAdapter) -> None:
    members = await adapter.audience(creds())
    assert members is not None and 1000 <= members < 6000
    assert await adapter.audience(creds(PARTNER)) not in {None, members}  # each channel its own count
    first = await adapter.get_updates(creds())
    assert first.updates == [] and first.next_offset_id is None
    await adapter.publish(creds(), delivery("یک"))
    await adapter.publish(creds(), delivery("دو"))
    page = await adapter.get_updates(creds(), limit=1)
    assert [u["new_message"]["text"] for u in page.updates] == ["یک"]
    following = await adapter.get_updates(creds(), page.next_offset_id)
    assert [u["new_message"]["text"] for u in following.updates] == ["دو"]
    assert following.updates[0]["type"] == "NewMessage" and following.updates[0]["chat_id"] == CHANNEL
    assert (await adapter.get_updates(creds(), following.next_offset_id)).updates == []


@pytest.mark.parametrize("step", ["/requestSendFile", "/upload/"])
async def test_a_failed_upload_step_posted_nothing_and_is_retryable(
    sandbox: RunningSandbox, adapter: RubikaAdapter, step: str
) -> None:
    sandbox.sandbox.add_fault("rubika", Fault(kind="drop", path=step))
    with pytest.raises(RetryableError) as caught:
        await adapter.publish(creds(), delivery(), [PHOTO])
    assert_no_secret(caught.value, TOKEN)
    assert sandbox.sandbox.posts_on("rubika") == []


async def test_dropped_send_file_is_ambiguous_and_cannot_be_reconciled(
    sandbox: RunningSandbox, adapter: RubikaAdapter
) -> None:
    sandbox.sandbox.add_fault("rubika", Fault(kind="drop", path="/sendFile"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery(), [PHOTO])
    assert_no_secret(caught.value, TOKEN)
    assert len(sandbox.sandbox.posts_on("rubika")) == 1
    with pytest.raises(CannotReconcile):
        await adapter.reconcile(creds(), delivery())


async def test_a_channel_the_bot_does_not_administer_is_an_auth_error(adapter: RubikaAdapter) -> None:
    with pytest.raises(AuthError, match="admin") as caught:
        await adapter.publish(creds("c0notadminChannel123"), delivery())
    assert_no_secret(caught.value, TOKEN)


async def test_too_long_is_permanent(adapter: RubikaAdapter) -> None:
    with pytest.raises(PermanentError, match="too long"):
        await adapter.publish(creds(), delivery("ب" * 4097))


def test_credentials_hide_the_token() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RubikaCredentials.model_validate({"bot_token": "bad token SECRET", "chat_id": CHANNEL})
    assert "SECRET" not in str(caught.value)
    assert TOKEN not in repr(creds())
    assert RubikaAdapter().account_label(creds()) == f"rubika:{CHANNEL}"
