"""The media step inside the real workers: one XADD, media fetched once from the sandbox's CMS over
real HTTP, bytes handed to every platform, limits and private addresses ending as `media_rejected`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from adapters import MediaFile, Posted, RetryableError
from adapters.base import MediaKind
from sandbox import RunningSandbox
from schemas import Action, DeadReason, Delivery, Media, PostRef
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters, item_deliveries
from services.pipeline.media import MediaStep
from services.runtime import Runtime, Settings, encode
from tests.support.harness import running, wait_idle, xadd_fields
from tests.support.memory_platform import MemoryCredentials, MemoryPlatform

AGENCIES = ("qom-governorate", "qom-municipality", "qom-red-crescent")


class Gallery(MemoryPlatform):
    """Takes up to 4 pictures of up to 1 MB, and keeps what it was handed."""

    platform: ClassVar[str] = "gallery"
    media_limit: ClassVar[int] = 4
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {"image": 1_000_000}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, list[MediaFile]]] = []

    async def publish(
        self, credentials: MemoryCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        self.received.append((credentials.handle, list(media)))
        return await super().publish(credentials, delivery, media)

    async def amplify(
        self,
        credentials: MemoryCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        self.received.append((credentials.handle, list(media)))
        return await super().amplify(credentials, delivery, source, media)


class Thumbnails(Gallery):
    """Takes one picture of up to 3 kB."""

    platform: ClassVar[str] = "thumbnails"
    media_limit: ClassVar[int] = 1
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {"image": 3_000}


class ByUrl(Gallery):
    """Fetches media itself (as Instagram does): Hamafza fetches nothing for it."""

    platform: ClassVar[str] = "byurl"
    uploads_media: ClassVar[bool] = False


REGISTRY: dict[str, Any] = {"gallery": Gallery, "thumbnails": Thumbnails, "byurl": ByUrl}


@pytest.fixture
async def runtime(
    redis_url: str, prefix: str, redis: Redis, sandbox: RunningSandbox
) -> AsyncIterator[Runtime]:
    document = {
        "media": {"allow_hosts": [urlsplit(sandbox.url).netloc]},
        "agencies": {
            name: {
                "name": f"اداره {name}",
                "accounts": {platform: {"handle": name} for platform in REGISTRY},
            }
            for name in AGENCIES
        },
        "networks": {
            "qom-pilgrims": {
                "members": list(AGENCIES),
                "amplify": {"gallery": "forward"},
                "delay_seconds": [0, 0.1],
            }
        },
    }
    settings = Settings(
        prefix=prefix,
        claim_idle_ms=300,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.1,
        scheduler_interval_seconds=0.05,
        max_attempts=3,
    )
    yield build_runtime(parse_network(document, REGISTRY), redis_url, settings, REGISTRY)


def adapter(runtime: Runtime, platform: str) -> Gallery:
    found = runtime.adapters[platform]
    assert isinstance(found, Gallery)
    return found


async def publish(runtime: Runtime, redis: Redis, item: dict[str, Any]) -> None:
    async with running(runtime, ("fanout", "deliver", "amplify", "scheduler")) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers)


async def test_each_url_is_fetched_once_for_every_platform_and_retry(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    gallery = adapter(runtime, "gallery")
    gallery.failures = [RetryableError("503 Service Unavailable")]  # the first call fails: a retry
    photos = [f"{sandbox.url}/_sandbox/media/map.jpg", f"{sandbox.url}/_sandbox/media/gate.png?bytes=2500"]
    await publish(
        runtime,
        redis,
        {
            "id": "qom-1",
            "agency": "qom-governorate",
            "text": "طرح ترافیکی نیمه شعبان",
            "media": [{"url": photos[0], "alt": "نقشه"}, {"url": photos[1]}],
        },
    )
    # Fetched once each, though three platforms, a retry and two partners' forwards followed.
    assert dict(sandbox.sandbox.media_requests) == {
        "/_sandbox/media/map.jpg": 1,
        "/_sandbox/media/gate.png": 1,
    }
    handed = [files for handle, files in gallery.received if handle == "qom-governorate"]
    assert len(handed) == 2 and handed[0] == handed[1]  # the failed call and its retry: same bytes
    files = handed[1]
    assert [(f.url, f.content_type, f.alt, f.kind) for f in files] == [
        (photos[0], "image/jpeg", "نقشه", "image"),
        (photos[1], "image/png", None, "image"),
    ]
    assert files[0].data.startswith(b"\xff\xd8\xff") and files[1].size == 2500
    thumbnails = adapter(runtime, "thumbnails").received
    assert [[f.url for f in files] for _, files in thumbnails] == [[photos[0]]]  # its limit is one
    assert adapter(runtime, "byurl").received == [("qom-governorate", [])]  # it reads delivery.media
    states = {
        (s.platform, s.agency, s.action): s.state for s in await item_deliveries(redis, runtime.keys, "qom-1")
    }
    assert set(states.values()) == {"posted"} and len(states) == 5  # 3 own posts, 2 forwards
    key = next(iter([k async for k in redis.scan_iter(match=f"{runtime.keys.prefix}:media:qom-1:*")]))
    assert 0 < await redis.ttl(key) <= runtime.settings.media_ttl_seconds


async def test_a_private_media_url_is_never_fetched_and_every_delivery_says_why(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    await publish(
        runtime,
        redis,
        {
            "id": "qom-2",
            "agency": "qom-governorate",
            "text": "خبر",
            "platforms": ["gallery", "thumbnails"],
            "media": [{"url": "http://169.254.169.254/latest/meta-data/iam"}],
        },
    )
    letters = [letter for _, letter in await dead_letters(redis, runtime.keys)]
    assert sorted(letter.platform or "" for letter in letters) == ["gallery", "thumbnails"]
    for letter in letters:
        assert letter.reason is DeadReason.MEDIA_REJECTED
        assert "169.254.169.254 is a link-local address" in letter.detail
        assert "media.allow_hosts" in letter.detail
    assert adapter(runtime, "gallery").posts == [] and adapter(runtime, "thumbnails").posts == []
    assert not sandbox.sandbox.media_requests


async def test_a_picture_over_one_platforms_limit_is_rejected_there_only(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    await publish(
        runtime,
        redis,
        {
            "id": "qom-3",
            "agency": "qom-governorate",
            "text": "خبر",
            "platforms": ["gallery", "thumbnails"],
            "amplify": False,
            "media": [{"url": f"{sandbox.url}/_sandbox/media/poster.jpg?bytes=40000"}],
        },
    )
    letters = [letter for _, letter in await dead_letters(redis, runtime.keys)]
    assert [(letter.platform, letter.reason) for letter in letters] == [
        ("thumbnails", DeadReason.MEDIA_REJECTED)
    ]
    assert "is 40 kB, over the limit of 3 kB for an image on thumbnails" in letters[0].detail
    assert "Make it smaller" in letters[0].detail
    assert [len(files) for _, files in adapter(runtime, "gallery").received] == [1]
    assert sandbox.sandbox.media_requests["/_sandbox/media/poster.jpg"] == 1


async def test_a_redelivered_item_and_a_partners_copy_reuse_the_stored_bytes(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    url = f"{sandbox.url}/_sandbox/media/poster.png?bytes=5000"
    item = {"id": "qom-4", "agency": "qom-governorate", "text": "خبر", "platforms": ["gallery"]}
    await publish(runtime, redis, {**item, "amplify": False, "media": [{"url": url, "alt": "پوستر"}]})
    # Fan-out again, as after a crash before its acknowledgement: the store answers, nothing is fetched.
    step = MediaStep(runtime)
    refusals = await step.prepare("qom-4", [Media(url=url)], [runtime.adapters["gallery"]])
    await step.fetcher.aclose()
    assert refusals == {}
    # A partner's copy (its own post with the item's media), delivered later by any worker.
    copy = Delivery(
        id=Delivery.make_id("qom-4", "qom-municipality", "gallery", Action.COPY),
        item_id="qom-4",
        agency="qom-municipality",
        platform="gallery",
        action=Action.COPY,
        origin_agency="qom-governorate",
        text="به نقل از استانداری قم: خبر",
        media=[Media(url=url, alt="پوستر")],
        source=PostRef(platform="gallery", agency="qom-governorate", post_id="1"),
        amplify=False,
    )
    async with running(runtime, ("deliver",)) as workers:
        await redis.xadd(runtime.keys.deliveries("gallery"), encode(copy))
        await wait_idle(workers)
    received = adapter(runtime, "gallery").received
    assert [handle for handle, _ in received] == ["qom-governorate", "qom-municipality"]
    assert received[0][1] == received[1][1] and received[1][1][0].alt == "پوستر"
    assert sandbox.sandbox.media_requests["/_sandbox/media/poster.png"] == 1
