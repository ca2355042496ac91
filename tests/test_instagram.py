"""Instagram: Graph API publishing (aiohttp) and instaloader reach, against the sandbox's fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    ContentError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from adapters.instagram import InstagramAdapter, InstagramCredentials
from sandbox import Fault, RunningSandbox
from sandbox.instagram import InstagramFake
from schemas import Action, Delivery, Item, Media, PostRef
from tests.support.faults import assert_no_secret as strict_no_secret

TOKEN = "EAAG-instagram-SECRET-token"
IMAGE = "https://irna.ir/media/a.jpg"
VIDEO = "https://irna.ir/media/clip.mp4"


def creds() -> InstagramCredentials:
    return InstagramCredentials(ig_user_id="17841400000000001", access_token=TOKEN, username="irna_news")


def delivery(
    text: str = "سلام اینستاگرام", media: list[str] | None = None, item_id: str = "news-1"
) -> Delivery:
    return Delivery(
        id=Delivery.make_id(item_id, "irna", "instagram", Action.PUBLISH),
        item_id=item_id,
        agency="irna",
        platform="instagram",
        action=Action.PUBLISH,
        origin_agency="irna",
        text=text,
        media=[Media(url=url) for url in (media if media is not None else [IMAGE])],  # type: ignore[arg-type]
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[InstagramAdapter]:
    instance = InstagramAdapter(api_base=sandbox.api_base("instagram"), timeout_seconds=3)
    instance.poll_interval_seconds = 0.01  # type: ignore[misc]
    yield instance
    await instance.aclose()


def fake(sandbox: RunningSandbox) -> InstagramFake:
    found = sandbox.sandbox.fakes["instagram"]
    assert isinstance(found, InstagramFake)
    return found


def assert_no_secret(error: BaseException | None) -> None:
    strict_no_secret(error, "SECRET")


@pytest.mark.parametrize(
    ("media", "kind"),
    [([IMAGE], "IMAGE"), ([VIDEO], "REELS"), ([IMAGE, VIDEO, IMAGE], "CAROUSEL")],
    ids=["image", "reel-polled", "carousel"],
)
async def test_publish_makes_a_container_then_publishes_it(
    sandbox: RunningSandbox, adapter: InstagramAdapter, media: list[str], kind: str
) -> None:
    posted = await adapter.publish(creds(), delivery(media=media))

    [post] = sandbox.sandbox.posts_on("instagram")
    assert post.post_id == posted.post_id and post.text == "سلام اینستاگرام"
    assert post.media == media
    assert posted.url is not None and posted.url.startswith("https://www.instagram.com/p/")
    container = fake(sandbox).containers[adapter.containers[delivery().id]]
    assert container.kind == kind and container.status_code == "PUBLISHED"


async def test_a_retry_never_publishes_twice(sandbox: RunningSandbox, adapter: InstagramAdapter) -> None:
    first = await adapter.publish(creds(), delivery())
    again = await adapter.publish(creds(), delivery())  # the recorded container says PUBLISHED
    assert first.post_id == again.post_id
    assert len(sandbox.sandbox.posts_on("instagram")) == 1


async def test_a_failed_publish_reuses_its_container(
    sandbox: RunningSandbox, adapter: InstagramAdapter
) -> None:
    sandbox.sandbox.add_fault("instagram", Fault(kind="error", status=500, path="media_publish"))
    with pytest.raises(RetryableError):
        await adapter.publish(creds(), delivery())
    await adapter.publish(creds(), delivery())
    assert len(fake(sandbox).containers) == 1
    assert len(sandbox.sandbox.posts_on("instagram")) == 1


async def test_the_daily_quota_pauses_the_account(sandbox: RunningSandbox, adapter: InstagramAdapter) -> None:
    fake(sandbox).quota_total = 1
    await adapter.publish(creds(), delivery())
    with pytest.raises(RateLimitedError, match="quota") as caught:
        await adapter.publish(creds(), delivery(item_id="news-2"))
    assert caught.value.reset_at > datetime.now(UTC) + timedelta(minutes=30)
    assert len(sandbox.sandbox.posts_on("instagram")) == 1


async def test_media_must_be_public(adapter: InstagramAdapter) -> None:
    with pytest.raises(PermanentError, match="2207052"):
        await adapter.publish(creds(), delivery(media=["https://127.0.0.1/a.jpg"]))


async def test_no_amplification(adapter: InstagramAdapter) -> None:
    assert adapter.amplify_actions == frozenset()
    with pytest.raises(PermanentError):
        await adapter.amplify(creds(), delivery(), PostRef(platform="instagram", agency="x", post_id="1"))


async def test_metrics_and_audience_through_instaloader(
    sandbox: RunningSandbox, adapter: InstagramAdapter
) -> None:
    photo = await adapter.publish(creds(), delivery())
    clip = await adapter.publish(creds(), delivery("ویدیو", media=[VIDEO], item_id="news-2"))
    adapter._shortcodes.clear()  # as a fresh worker: the shortcode comes from the Graph API

    metrics = await adapter.metrics(creds(), [photo.post_id])
    assert metrics[photo.post_id].likes is not None and metrics[photo.post_id].likes >= 100
    assert metrics[photo.post_id].views is None
    clip_metrics = await adapter.metrics(creds(), [clip.post_id])
    assert (clip_metrics[clip.post_id].views or 0) >= 5000
    followers = await adapter.audience(creds())
    assert followers is not None and followers >= 10_000


async def test_dropped_publish_is_ambiguous_then_reconciled(
    sandbox: RunningSandbox, adapter: InstagramAdapter
) -> None:
    assert await adapter.reconcile(creds(), delivery()) is None
    sandbox.sandbox.add_fault("instagram", Fault(kind="drop", path="media_publish"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery())
    assert_no_secret(caught.value)

    [post] = sandbox.sandbox.posts_on("instagram")
    found = await adapter.reconcile(creds(), delivery())
    assert found is not None and found.post_id == post.post_id
    # A fresh process, without the recorded container, finds it by its caption.
    fresh = InstagramAdapter(api_base=sandbox.api_base("instagram"), timeout_seconds=3)
    try:
        again = await fresh.reconcile(creds(), delivery())
    finally:
        await fresh.aclose()
    assert again is not None and again.post_id == post.post_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"media": []}, "need a picture or video"),
        ({"media": [{"url": "http://irna.ir/a.jpg"}]}, "public https URL"),
        ({"text": "#a #b #c #d #e #f", "media": [{"url": IMAGE}]}, "hashtags"),
    ],
)
def test_render_refuses_what_instagram_cannot_take(fields: dict[str, object], message: str) -> None:
    item = Item.model_validate({"agency": "irna", "text": "خبر", **fields})
    with pytest.raises(ContentError, match=message):
        InstagramAdapter().render(item)


def test_render_refuses_more_media_than_a_carousel() -> None:
    item = Item.model_validate({"agency": "irna", "text": "خبر", "media": [{"url": IMAGE}]})
    item.media = item.media * 11  # Item itself allows 10; an adapter's own limit may be lower
    with pytest.raises(ContentError, match="over its limit of 10"):
        InstagramAdapter().render(item)


def test_render_keeps_at_most_five_hashtags() -> None:
    item = Item.model_validate(
        {
            "agency": "irna",
            "text": "خبر #ایران",
            "tags": ["a", "b", "c", "d", "e", "f"],
            "media": [{"url": IMAGE}],
        }
    )
    assert InstagramAdapter().render(item) == "خبر #ایران\n\n#a #b #c #d"


def test_credentials_hide_the_token() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        InstagramCredentials.model_validate(
            {"ig_user_id": "x", "access_token": "short-SECRET", "username": "a b"}
        )
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(creds())
