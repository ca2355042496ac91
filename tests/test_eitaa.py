"""Eitaa through its bot HTTP API and its public channel page, against the sandbox's Eitaa fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    Engagement,
    MediaFile,
    PermanentError,
    RetryableError,
)
from adapters.eitaa import EitaaAdapter, EitaaCredentials
from adapters.eitaa_page import parse_counter
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, PostRef
from tests.support.faults import assert_no_secret as strict_no_secret

TOKEN = "bot123456:SECRETeitaaTOKEN"
PHOTO = MediaFile(url="https://qom.ir/a.jpg", content_type="image/jpeg", data=b"\xff\xd8\xff" + b"1" * 300)
VIDEO = MediaFile(url="https://qom.ir/a.mp4", content_type="video/mp4", data=b"\x00\x00\x00\x18ftypmp42" * 9)


def creds(chat_id: str = "irna_news") -> EitaaCredentials:
    return EitaaCredentials(token=TOKEN, chat_id=chat_id)


def delivery(text: str = "سلام ایتا", action: Action = Action.PUBLISH) -> Delivery:
    return Delivery(
        id=Delivery.make_id("news-1", "irna", "eitaa", action),
        item_id="news-1",
        agency="irna",
        platform="eitaa",
        action=action,
        origin_agency="irna",
        text=text,
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[EitaaAdapter]:
    base = sandbox.api_base("eitaa")
    instance = EitaaAdapter(api_base=base, timeout_seconds=3, web_base=base)
    yield instance
    await instance.aclose()


def assert_no_secret(error: BaseException | None) -> None:
    strict_no_secret(error, "SECRET")


async def test_publish_sends_a_message_to_the_channel(sandbox: RunningSandbox, adapter: EitaaAdapter) -> None:
    posted = await adapter.publish(creds(), delivery())
    second = await adapter.publish(creds("@irna_news"), delivery("دوم"))

    first_post, second_post = sandbox.sandbox.posts_on("eitaa")
    assert first_post.text == "سلام ایتا" and first_post.chat == "irna_news"
    assert posted.post_id == "1" and second.post_id == "2"
    assert posted.url == f"{sandbox.api_base('eitaa')}/irna_news/1"
    assert EitaaAdapter().web_base == "https://eitaa.com"
    assert second.chat == "@irna_news" and second_post.chat == "irna_news"


async def test_a_photo_or_video_goes_as_an_uploaded_file_with_its_caption(
    sandbox: RunningSandbox, adapter: EitaaAdapter
) -> None:
    photo = await adapter.publish(creds(), delivery("عکس خبر"), [PHOTO, VIDEO])
    await adapter.publish(creds(), delivery("فیلم خبر"), [VIDEO])
    first, second = sandbox.sandbox.posts_on("eitaa")
    # sendFile takes one file a message: the first medium, with the text as its caption.
    assert (first.text, first.media) == ("عکس خبر", ["upload:image/jpeg:media.jpg"])
    assert (second.text, second.media) == ("فیلم خبر", ["upload:video/mp4:media.mp4"])
    assert photo.post_id == first.post_id


async def test_copy_is_the_amplification_a_post_of_the_partners_own(
    sandbox: RunningSandbox, adapter: EitaaAdapter
) -> None:
    assert EitaaAdapter.action_for("copy") is Action.COPY and EitaaAdapter.action_for("forward") is None
    source = PostRef(platform="eitaa", agency="qom-gov", post_id="1", chat="ostandari_qom")
    copied = await adapter.amplify(creds("qom_city"), delivery("رونوشت", Action.COPY), source, [PHOTO])
    (post,) = sandbox.sandbox.posts_on("eitaa")
    assert (post.chat, post.text, post.media) == ("qom_city", "رونوشت", ["upload:image/jpeg:media.jpg"])
    assert copied.url == f"{sandbox.api_base('eitaa')}/qom_city/{copied.post_id}"
    with pytest.raises(PermanentError, match="no forward"):
        await adapter.amplify(creds(), delivery(action=Action.FORWARD), source)


async def test_reach_comes_from_the_public_page(sandbox: RunningSandbox, adapter: EitaaAdapter) -> None:
    fake = sandbox.sandbox.fakes["eitaa"]
    assert await adapter.audience(creds("ostandari_qom")) is None  # no page before the first post
    first = await adapter.publish(creds("@ostandari_qom"), delivery("خبر اول\nhttps://qom.ir/a"))
    second = await adapter.publish(creds("@ostandari_qom"), delivery("خبر دوم"), [PHOTO])
    fake.members["ostandari_qom"] = 12_400  # type: ignore[attr-defined]
    fake.channels["ostandari_qom"][0].views = 873  # type: ignore[attr-defined]
    fake.channels["ostandari_qom"][1].views = 1_500  # type: ignore[attr-defined]
    assert await adapter.audience(creds("@ostandari_qom")) == 12_400
    metrics = await adapter.metrics(creds("@ostandari_qom"), [first.post_id, second.post_id, "99"])
    assert metrics == {
        first.post_id: Engagement(impressions=873, views=873),
        second.post_id: Engagement(impressions=1_500, views=1_500),
    }
    assert await adapter.metrics(creds("-100123"), ["1"]) == {}  # a numeric id has no public page


async def test_an_unknown_outcome_is_looked_up_on_the_page_by_its_text(
    sandbox: RunningSandbox, adapter: EitaaAdapter
) -> None:
    await adapter.publish(creds(), delivery("خبری دیگر"))
    sandbox.sandbox.add_fault("eitaa", Fault(kind="drop"))
    text = "طرح ترافیکی نیمه شعبان\n\n#نیمه_شعبان\n\nhttps://qom.ir/news/1"
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery(text), [PHOTO])
    assert_no_secret(caught.value)
    found = await adapter.reconcile(creds(), delivery(text))
    (_, sent) = sandbox.sandbox.posts_on("eitaa")
    assert found is not None and found.post_id == sent.post_id == "2"
    assert found.url == f"{sandbox.api_base('eitaa')}/irna_news/2"
    # A text the page does not show is never called posted, nor sent again blindly: unconfirmed.
    with pytest.raises(CannotReconcile, match="not among the latest"):
        await adapter.reconcile(creds(), delivery("متنی که هرگز ارسال نشد"))
    with pytest.raises(CannotReconcile, match="no public page"):
        await adapter.reconcile(creds("-100123"), delivery(text))


async def test_a_failing_public_page_is_retryable(sandbox: RunningSandbox, adapter: EitaaAdapter) -> None:
    await adapter.publish(creds(), delivery())
    sandbox.sandbox.add_fault("eitaa", Fault(kind="error", status=503, methods=("GET",), path="/irna_news"))
    with pytest.raises(RetryableError, match="public page"):
        await adapter.audience(creds())
    assert await adapter.audience(creds()) is not None


@pytest.mark.parametrize(
    ("shown", "number"),
    [("873", 873), ("۸۷۳", 873), ("1.2K", 1200), ("۱۲٫۴ هزار", 12_400), ("3M", 3_000_000), ("1,204", 1204)],
)
def test_counters_as_the_page_shows_them(shown: str, number: int) -> None:
    assert parse_counter(shown) == number


async def test_channel_without_admin_rights_is_an_auth_error(adapter: EitaaAdapter) -> None:
    with pytest.raises(AuthError, match="admin"):
        await adapter.publish(creds("notadmin_channel"), delivery())


async def test_too_long_is_permanent(adapter: EitaaAdapter) -> None:
    with pytest.raises(PermanentError, match="too long"):
        await adapter.publish(creds(), delivery("ب" * 4097))


def test_credentials_hide_the_token() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        EitaaCredentials.model_validate({"token": "bad token SECRET", "chat_id": "x"})
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(creds())
    assert EitaaAdapter().account_label(creds()) == "eitaa:irna_news"
