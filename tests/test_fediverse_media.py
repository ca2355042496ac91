"""Mastodon attachments and Bluesky image embeds, through Mastodon.py and atproto against the
sandbox's fakes over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters import MediaFile, PermanentError, RetryableError
from adapters.bluesky import BlueskyAdapter, BlueskyCredentials
from adapters.mastodon import MastodonAdapter, MastodonCredentials
from sandbox import Fault, RunningSandbox
from sandbox.bluesky import BlueskyFake
from sandbox.bluesky_blobs import BlobProblem
from sandbox.mastodon import MastodonFake
from sandbox.media_files import HEADERS
from schemas import Action, Delivery, Media


def file(extension: str, size: int = 3000, alt: str | None = None) -> MediaFile:
    content_type, header = HEADERS[extension]
    return MediaFile(
        f"https://cms.example/a.{extension}", content_type, header + bytes(size - len(header)), alt
    )


def delivery(platform: str, files: list[MediaFile], text: str = "طرح ترافیکی نیمه شعبان") -> Delivery:
    return Delivery(
        id=Delivery.make_id("news-1", "qom", platform, Action.PUBLISH),
        item_id="news-1",
        agency="qom",
        platform=platform,
        action=Action.PUBLISH,
        origin_agency="qom",
        text=text,
        media=[Media(url=f.url, alt=f.alt) for f in files],
    )


@pytest.fixture
async def mastodon(sandbox: RunningSandbox) -> AsyncIterator[MastodonAdapter]:
    adapter = MastodonAdapter(api_base=sandbox.api_base("mastodon"), timeout_seconds=5)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def bluesky(sandbox: RunningSandbox) -> AsyncIterator[BlueskyAdapter]:
    adapter = BlueskyAdapter(api_base=sandbox.api_base("bluesky"), timeout_seconds=5)
    yield adapter
    await adapter.aclose()


MASTODON = MastodonCredentials(access_token="mastodon-token-SECRET", account="@qom@sandbox.social")
BLUESKY = BlueskyCredentials(handle="qom.bsky.social", app_password="app-password-SECRET")


def mastodon_fake(sandbox: RunningSandbox) -> MastodonFake:
    fake = sandbox.sandbox.fakes["mastodon"]
    assert isinstance(fake, MastodonFake)
    return fake


def bluesky_fake(sandbox: RunningSandbox) -> BlueskyFake:
    fake = sandbox.sandbox.fakes["bluesky"]
    assert isinstance(fake, BlueskyFake)
    return fake


# --- Mastodon ---------------------------------------------------------------------------------------


async def test_mastodon_status_carries_the_attachments_with_their_alt_text(
    mastodon: MastodonAdapter, sandbox: RunningSandbox
) -> None:
    files = [file("jpg", alt="نقشه طرح ترافیکی"), file("png", alt="ایستگاه‌ها")]
    await mastodon.publish(MASTODON, delivery("mastodon", files), files)
    [status] = sandbox.sandbox.posts_on("mastodon")
    attachments = [mastodon_fake(sandbox).media.attachments[media_id] for media_id in status.media]
    assert [(a.content_type, a.description) for a in attachments] == [
        ("image/jpeg", "نقشه طرح ترافیکی"),
        ("image/png", "ایستگاه‌ها"),
    ]


async def test_mastodon_video_is_waited_for_until_processed(
    mastodon: MastodonAdapter, sandbox: RunningSandbox
) -> None:
    fake = mastodon_fake(sandbox)
    fake.media.video_polls = 2  # two reads answer 206 before the video is ready
    video = file("mp4", size=50_000)
    await mastodon.publish(MASTODON, delivery("mastodon", [video]), [video])
    [status] = sandbox.sandbox.posts_on("mastodon")
    [attachment] = [fake.media.attachments[media_id] for media_id in status.media]
    assert attachment.processed and attachment.kind == "video"


async def test_mastodon_video_still_processing_at_the_deadline_is_retryable_and_posts_nothing(
    sandbox: RunningSandbox,
) -> None:
    mastodon_fake(sandbox).media.video_polls = 1000
    adapter = MastodonAdapter(api_base=sandbox.api_base("mastodon"), timeout_seconds=1)
    video = file("mov")
    try:
        with pytest.raises(RetryableError, match="still processing"):
            await adapter.publish(MASTODON, delivery("mastodon", [video]), [video])
    finally:
        await adapter.aclose()
    assert sandbox.sandbox.posts_on("mastodon") == []


async def test_mastodon_refuses_a_video_beside_pictures(mastodon: MastodonAdapter) -> None:
    files = [file("jpg"), file("mp4")]  # both upload (the video is waited for), then the status is refused
    with pytest.raises(PermanentError, match="Cannot attach a video to a post that already contains images"):
        await mastodon.publish(MASTODON, delivery("mastodon", files), files)


async def test_a_failed_mastodon_upload_is_retryable_and_the_retry_posts_once(
    mastodon: MastodonAdapter, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.add_fault("mastodon", Fault(kind="error", status=503, path="/api/v2/media"))
    picture = file("jpg")
    with pytest.raises(RetryableError) as caught:
        await mastodon.publish(MASTODON, delivery("mastodon", [picture]), [picture])
    assert "SECRET" not in str(caught.value)
    await mastodon.publish(MASTODON, delivery("mastodon", [picture]), [picture])
    await mastodon.publish(MASTODON, delivery("mastodon", [picture]), [picture])  # same Idempotency-Key
    assert len(sandbox.sandbox.posts_on("mastodon")) == 1


# --- Bluesky ----------------------------------------------------------------------------------------


async def test_bluesky_post_embeds_up_to_four_images_with_alt_text(
    bluesky: BlueskyAdapter, sandbox: RunningSandbox
) -> None:
    files = [file("jpg", alt="نقشه"), file("png"), file("webp", alt="ورودی"), file("jpg", size=4000)]
    await bluesky.publish(BLUESKY, delivery("bluesky", files), files)
    [post] = sandbox.sandbox.posts_on("bluesky")
    assert len(post.media) == 4
    fake = bluesky_fake(sandbox)
    record = next(iter(fake.records.values()))["value"]
    images = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert [image["alt"] for image in images] == ["نقشه", "", "ورودی", ""]
    assert [fake.blobs.blobs[cid]["mimeType"] for cid in post.media] == [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/jpeg",
    ]


async def test_bluesky_refuses_an_image_over_its_1_mb_limit(
    bluesky: BlueskyAdapter, sandbox: RunningSandbox
) -> None:
    big = file("jpg", size=1_000_001)
    with pytest.raises(PermanentError, match="over bluesky's image limit"):
        await bluesky.publish(BLUESKY, delivery("bluesky", [big]), [big])
    assert sandbox.sandbox.posts_on("bluesky") == [] and bluesky_fake(sandbox).blobs.blobs == {}
    # The PDS refuses such an embed too, as the fake does when the blob was uploaded anyway.
    fake = bluesky_fake(sandbox)
    blob = fake.blobs.upload("did:plc:qom", big.data, "image/jpeg")["blob"]
    record = {"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]}}
    with pytest.raises(BlobProblem, match="larger than 1000000 bytes"):
        fake.blobs.embedded("did:plc:qom", record)


async def test_a_bluesky_resend_with_media_finds_the_first_post(
    bluesky: BlueskyAdapter, sandbox: RunningSandbox
) -> None:
    picture = file("png", alt="نقشه")
    first = await bluesky.publish(BLUESKY, delivery("bluesky", [picture]), [picture])
    again = await bluesky.publish(BLUESKY, delivery("bluesky", [picture]), [picture])
    assert again.post_id == first.post_id and len(sandbox.sandbox.posts_on("bluesky")) == 1
