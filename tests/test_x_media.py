"""X pictures and video through the v2 media upload, against the sandbox's X fake over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters import AuthError, MediaFile, PermanentError, RetryableError
from adapters.x import XAdapter, XCredentials
from sandbox import Fault, RunningSandbox
from sandbox.media_files import HEADERS
from sandbox.x import XFake
from schemas import Action, Delivery, Media
from tests.support.faults import assert_no_secret

SECRETS = {
    "consumer_key": "ck-consumer-SECRET",
    "consumer_secret": "cs-consumer-SECRET",
    "access_token": "4242-access-SECRET",
    "access_token_secret": "as-access-SECRET",
}


@pytest.fixture
async def x(sandbox: RunningSandbox) -> AsyncIterator[XAdapter]:
    adapter = XAdapter(api_base=sandbox.api_base("x"), timeout_seconds=5)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def fake(sandbox: RunningSandbox) -> XFake:
    found = sandbox.sandbox.fakes["x"]
    assert isinstance(found, XFake)
    found.media.check_after_secs = 0
    return found


def credentials() -> XCredentials:
    return XCredentials.model_validate(SECRETS)


def file(extension: str, size: int = 3000, alt: str | None = None) -> MediaFile:
    content_type, header = HEADERS[extension]
    data = header + bytes(size - len(header))
    return MediaFile(f"https://cms.example/a.{extension}", content_type, data, alt)


def delivery(text: str, files: list[MediaFile]) -> Delivery:
    return Delivery(
        id=Delivery.make_id("news-1", "roads", "x", Action.PUBLISH),
        item_id="news-1",
        agency="roads",
        platform="x",
        action=Action.PUBLISH,
        origin_agency="roads",
        text=text,
        media=[Media(url=f.url, alt=f.alt) for f in files],
    )


async def test_pictures_go_up_and_ride_on_the_tweet_with_alt_text(
    x: XAdapter, fake: XFake, sandbox: RunningSandbox
) -> None:
    files = [file("jpg", alt="نقشه طرح ترافیکی"), file("png"), file("webp")]
    posted = await x.publish(credentials(), delivery("طرح ترافیکی", files), files)
    [tweet] = sandbox.sandbox.posts_on("x")
    assert tweet.post_id == posted.post_id and len(tweet.media) == 3
    uploads = [fake.media.uploads[key.partition("_")[2]] for key in tweet.media]
    assert [(u.media_type, u.category, u.total_bytes) for u in uploads] == [
        ("image/jpeg", "tweet_image", 3000),
        ("image/png", "tweet_image", 3000),
        ("image/webp", "tweet_image", 3000),
    ]
    assert [u.alt_text for u in uploads] == ["نقشه طرح ترافیکی", None, None]


async def test_a_video_goes_up_in_segments_and_is_polled_until_processed(
    x: XAdapter, fake: XFake, sandbox: RunningSandbox
) -> None:
    video = file("mp4", size=9 * 1024 * 1024)  # three 4 MB segments
    await x.publish(credentials(), delivery("ویدئو", [video]), [video])
    [tweet] = sandbox.sandbox.posts_on("x")
    [upload] = [fake.media.uploads[key.partition("_")[2]] for key in tweet.media]
    assert tweet.media[0].startswith("7_")
    assert sorted(upload.segments) == [0, 1, 2] and upload.total_bytes == 9 * 1024 * 1024
    assert upload.state == "succeeded" and upload.polls == 2  # in_progress, then succeeded


async def test_a_video_x_cannot_process_is_a_permanent_refusal_and_nothing_is_posted(
    x: XAdapter, fake: XFake, sandbox: RunningSandbox
) -> None:
    fake.media.fail_processing = True
    video = file("mov")
    with pytest.raises(PermanentError, match="could not process the video"):
        await x.publish(credentials(), delivery("ویدئو", [video]), [video])
    assert sandbox.sandbox.posts_on("x") == []


async def test_pictures_and_a_video_together_are_refused_before_any_upload(x: XAdapter, fake: XFake) -> None:
    files = [file("jpg"), file("mp4")]
    with pytest.raises(PermanentError, match="up to 4 pictures, or one GIF or video"):
        await x.publish(credentials(), delivery("هر دو", files), files)
    assert fake.media.uploads == {}


async def test_a_picture_over_5_mb_is_refused_before_upload_and_by_the_fake(x: XAdapter, fake: XFake) -> None:
    big = file("jpg", size=5 * 1024 * 1024 + 1)
    with pytest.raises(PermanentError, match="over x's image limit"):
        await x.publish(credentials(), delivery("بزرگ", [big]), [big])
    assert fake.media.uploads == {}
    # X itself refuses it too, as the fake does when the upload is made anyway.
    with pytest.raises(PermanentError, match="400 to a media upload: File size exceeds"):
        await x._upload(credentials(), [big])


async def test_an_upload_that_fails_is_retryable_and_shows_no_secret(
    x: XAdapter, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.add_fault("x", Fault(kind="error", status=503, path="/2/media/upload"))
    picture = file("jpg")
    with pytest.raises(RetryableError, match="503") as caught:
        await x.publish(credentials(), delivery("عکس", [picture]), [picture])
    assert_no_secret(caught.value, *SECRETS.values())
    assert sandbox.sandbox.posts_on("x") == []
    await x.publish(credentials(), delivery("عکس", [picture]), [picture])  # the retry goes through
    assert len(sandbox.sandbox.posts_on("x")) == 1


async def test_refused_credentials_on_upload_are_an_auth_error(x: XAdapter, sandbox: RunningSandbox) -> None:
    sandbox.sandbox.add_fault("x", Fault(kind="auth", path="/2/media/upload"))
    picture = file("png")
    with pytest.raises(AuthError) as caught:
        await x.publish(credentials(), delivery("عکس", [picture]), [picture])
    assert_no_secret(caught.value, *SECRETS.values())


async def test_a_tweet_with_unknown_media_ids_is_refused_by_the_fake(
    sandbox: RunningSandbox, fake: XFake
) -> None:
    x = XAdapter(api_base=sandbox.api_base("x"), timeout_seconds=5)
    try:
        with pytest.raises(PermanentError, match="media IDs are invalid"):
            await x._tweet(credentials(), "بی‌عکس", media_ids=["123"])
    finally:
        await x.aclose()
