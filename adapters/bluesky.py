"""Bluesky, through the `atproto` SDK's `AsyncClient` and an app password.

A post is a `com.atproto.repo.createRecord` of `app.bsky.feed.post` at a record key (rkey) derived
from the delivery id: a resend after a lost answer hits the same rkey, which the PDS refuses as an
existing record, and the adapter then reads that record back (`getRecord`) and reports it as the
post. A repost (`app.bsky.feed.repost`) gets its own deterministic rkey the same way. So nothing is
ever posted twice, and `reconcile` is a plain `getRecord`.

Pictures (up to 4) go up as blobs (`uploadBlob`) and ride on the post as an
`app.bsky.embed.images` embed with their alt text.

Text is held to 300 graphemes (what a person sees as one character, emoji sequences included); the
link and hashtags are made clickable with rich-text facets (UTF-8 byte ranges).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import grapheme
import httpx
from atproto import AsyncClient, models
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import AsyncRequest
from atproto_core.exceptions import AtProtocolError
from pydantic import BaseModel, ConfigDict, Field

from adapters import register
from adapters.base import (
    HASHTAG,
    Adapter,
    AmbiguousError,
    AuthError,
    DeliveryError,
    Engagement,
    MediaFile,
    MediaKind,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from schemas import Action, Delivery, PostRef

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
DEFAULT_RATE_WINDOW = timedelta(minutes=5)
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# httpx errors meaning the request never reached the server.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
T = TypeVar("T")


class BlueskyCredentials(BaseModel):
    """A handle and an app password (Settings → Privacy and security → App passwords)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=True
    )

    handle: str = Field(min_length=3, pattern=r"^[A-Za-z0-9.-]+$")
    app_password: str = Field(min_length=1, repr=False)


def record_key(delivery_id: str) -> str:
    """A TID-shaped rkey that is the same for every attempt of one delivery.

    A TID is 13 base32-sortable characters of a 64-bit number (53 bits of microseconds, 10 of clock
    id). Both come from a hash of the delivery id here, so the key is stable without any stored
    state; the "time" part carries no meaning (feeds sort by `createdAt`, not by rkey).
    """
    number = int.from_bytes(hashlib.sha256(delivery_id.encode()).digest()[:8], "big") & ((1 << 63) - 1)
    return "".join(TID_ALPHABET[(number >> (5 * (12 - index))) & 31] for index in range(13))


@register
class BlueskyAdapter(Adapter[BlueskyCredentials]):
    platform: ClassVar[str] = "bluesky"
    title: ClassVar[str] = "بلواسکای"
    name: ClassVar[str] = "Bluesky"
    credentials_model: ClassVar[type[BaseModel]] = BlueskyCredentials
    default_api_base: ClassVar[str] = "https://bsky.social"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.REPOST: "repost"}
    text_limit: ClassVar[int] = 300
    # app.bsky.embed.images: up to 4 images of at most 1,000,000 bytes each, with alt text. (Video
    # goes through a separate video service and is not sent.)
    media_limit: ClassVar[int] = 4
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {"image": 1_000_000}
    secret_fields: ClassVar[frozenset[str]] = frozenset({"app_password"})
    supports_metrics: ClassVar[bool] = True
    metrics_batch_size: ClassVar[int] = 25

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._clients: dict[BlueskyCredentials, tuple[AsyncClient, str]] = {}

    def measure(self, text: str) -> int:
        return int(grapheme.length(text))

    def account_label(self, credentials: BlueskyCredentials) -> str:
        return f"bluesky:{credentials.handle}"

    # --- deliveries ------------------------------------------------------------------------------

    async def publish(
        self, credentials: BlueskyCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        record = models.AppBskyFeedPost.Record(
            text=delivery.text,
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            facets=facets(delivery.text, delivery.link) or None,
            langs=["fa"],
            embed=await self._images(credentials, media) if media else None,
        )
        return await self._create(credentials, POST, record_key(delivery.id), record, delivery.text)

    async def _images(
        self, credentials: BlueskyCredentials, media: Sequence[MediaFile]
    ) -> models.AppBskyEmbedImages.Main:
        """Each picture uploaded as a blob (its type given, so the PDS need not guess), then embedded
        with its alt text. An upload posts nothing, so a lost answer is only retryable."""
        images = []
        self.check_media(media[: self.media_limit])
        for file in media[: self.media_limit]:
            uploaded = await self._call(
                credentials,
                _blob_uploader(file),
                write=False,
            )
            images.append(models.AppBskyEmbedImages.Image(alt=file.alt or "", image=uploaded.blob))
        return models.AppBskyEmbedImages.Main(images=images)

    async def amplify(
        self,
        credentials: BlueskyCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action is not Action.REPOST:
            return await super().amplify(credentials, delivery, source)
        did, collection, rkey = _parts(source.post_id)
        original = await self._call(
            credentials,
            lambda client, _did: client.com.atproto.repo.get_record(
                models.ComAtprotoRepoGetRecord.Params(repo=did, collection=collection, rkey=rkey)
            ),
            write=False,
        )
        record = models.AppBskyFeedRepost.Record(
            subject=models.ComAtprotoRepoStrongRef.Main(uri=source.post_id, cid=original.cid),
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        posted = await self._create(credentials, REPOST, record_key(delivery.id), record, None)
        return Posted(post_id=posted.post_id, url=source.url)

    async def reconcile(self, credentials: BlueskyCredentials, delivery: Delivery) -> Posted | None:
        collection = REPOST if delivery.action is Action.REPOST else POST
        return await self._existing(credentials, collection, record_key(delivery.id))

    async def metrics(self, credentials: BlueskyCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        response = await self._call(
            credentials,
            lambda client, _did: client.get_posts(post_ids[: self.metrics_batch_size]),
            write=False,
        )
        return {
            post.uri: Engagement(
                likes=post.like_count,
                reposts=post.repost_count,
                replies=post.reply_count,
                quotes=post.quote_count,
            )
            for post in response.posts
        }

    async def audience(self, credentials: BlueskyCredentials) -> int | None:
        profile = await self._call(credentials, lambda client, did: client.get_profile(did), write=False)
        count = profile.followers_count
        return int(count) if count is not None else None

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            await client.request.close()

    # --- plumbing --------------------------------------------------------------------------------

    async def _create(
        self, credentials: BlueskyCredentials, collection: str, rkey: str, record: Any, text: str | None
    ) -> Posted:
        try:
            created = await self._call(
                credentials,
                lambda client, did: client.com.atproto.repo.create_record(
                    models.ComAtprotoRepoCreateRecord.Data(
                        repo=did, collection=collection, rkey=rkey, record=record
                    )
                ),
            )
        except PermanentError as refused:
            # The rkey is taken: an earlier attempt of this delivery got through. Read it back.
            existing = await self._existing(credentials, collection, rkey)
            if existing is None:
                raise refused from None
            return existing
        return Posted(post_id=created.uri, url=self._post_url(credentials, collection, rkey))

    async def _existing(self, credentials: BlueskyCredentials, collection: str, rkey: str) -> Posted | None:
        try:
            found = await self._call(
                credentials,
                lambda client, did: client.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(repo=did, collection=collection, rkey=rkey)
                ),
                write=False,
            )
        except PermanentError as error:
            if "RecordNotFound" in str(error) or "Could not locate record" in str(error):
                return None
            raise
        return Posted(post_id=found.uri, url=self._post_url(credentials, collection, rkey))

    @staticmethod
    def _post_url(credentials: BlueskyCredentials, collection: str, rkey: str) -> str | None:
        return f"https://bsky.app/profile/{credentials.handle}/post/{rkey}" if collection == POST else None

    async def _session(self, credentials: BlueskyCredentials) -> tuple[AsyncClient, str]:
        cached = self._clients.get(credentials)
        if cached is None:
            request = AsyncRequest(
                timeout=httpx.Timeout(self.timeout_seconds, connect=min(5.0, self.timeout_seconds))
            )
            client = AsyncClient(base_url=self.api_base, request=request)
            try:
                await client.login(credentials.handle, credentials.app_password, fetch_bsky_profile=False)
            except Exception:
                await request.close()
                raise
            session = getattr(client, "_session", None)
            did = str(getattr(session, "did", "") or credentials.handle)
            cached = self._clients[credentials] = (client, did)
        return cached

    async def _call(
        self,
        credentials: BlueskyCredentials,
        operation: Callable[[AsyncClient, str], Awaitable[T]],
        write: bool = True,
    ) -> T:
        try:
            client, did = await self._session(credentials)
            return await operation(client, did)
        except (AtProtocolError, httpx.HTTPError) as error:
            failure = translate(error, write)
        raise failure


def _blob_uploader(file: MediaFile) -> Callable[[AsyncClient, str], Awaitable[Any]]:
    return lambda client, _did: client.com.atproto.repo.upload_blob(
        file.data, headers={"Content-Type": file.content_type}
    )


def _parts(uri: str) -> tuple[str, str, str]:
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3:
        raise PermanentError(f"not a Bluesky post URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def facets(text: str, link: str | None) -> list[models.AppBskyRichtextFacet.Main]:
    """Rich-text facets for the link and the hashtags: byte ranges in the UTF-8 text."""
    encoded = text.encode()
    found: list[models.AppBskyRichtextFacet.Main] = []

    def span(start_char: int, end_char: int) -> models.AppBskyRichtextFacet.ByteSlice:
        return models.AppBskyRichtextFacet.ByteSlice(
            byte_start=len(text[:start_char].encode()), byte_end=len(text[:end_char].encode())
        )

    if link and link in text:
        start = text.rindex(link)
        found.append(
            models.AppBskyRichtextFacet.Main(
                index=span(start, start + len(link)), features=[models.AppBskyRichtextFacet.Link(uri=link)]
            )
        )
    for match in HASHTAG.finditer(text):
        found.append(
            models.AppBskyRichtextFacet.Main(
                index=span(match.start(), match.end()),
                features=[models.AppBskyRichtextFacet.Tag(tag=match.group()[1:])],
            )
        )
    assert all(facet.index.byte_end <= len(encoded) for facet in found)
    return found


def translate(error: AtProtocolError | httpx.HTTPError, write: bool) -> DeliveryError:
    """The typed error for what the atproto SDK raised; it never quotes the app password.

    The SDK wraps only httpx's timeouts and network errors; others (a protocol error when the
    connection drops before the answer) come through as httpx's own.
    """
    if isinstance(error, httpx.HTTPError):
        return _transport(error, write)
    if isinstance(error, LoginRequiredError):
        return AuthError("bluesky session lost; check the handle and app password")
    if not isinstance(error, RequestErrorBase):
        return RetryableError(f"bluesky client error: {type(error).__name__}")
    response = error.response
    said = f"bluesky answered {error}"
    if response is None:
        cause = error.__cause__
        return _transport(cause if isinstance(cause, httpx.HTTPError) else None, write, error)
    if isinstance(error, RateLimitExceededError):
        reset_at = error.reset_at or datetime.now(UTC) + DEFAULT_RATE_WINDOW
        return RateLimitedError(f"{said}; wait until {reset_at.isoformat()}", reset_at=reset_at)
    if isinstance(error, UnauthorizedError):
        return AuthError(f"{said} (renew the app password)")
    if isinstance(error, BadRequestError):
        return PermanentError(said)
    if isinstance(error, NetworkError) or response.status_code >= 500:
        return RetryableError(said)
    return PermanentError(said)


def _transport(cause: httpx.HTTPError | None, write: bool, error: Exception | None = None) -> DeliveryError:
    if isinstance(cause, NOT_SENT):
        return RetryableError(f"could not reach Bluesky ({type(cause).__name__}); nothing was sent")
    timed_out = isinstance(error, InvokeTimeoutError) or isinstance(cause, httpx.TimeoutException)
    what = "timed out" if timed_out else f"{type(cause or error).__name__} after sending"
    if write:
        return AmbiguousError(f"Bluesky may or may not have created the record ({what})")
    return RetryableError(f"reading from Bluesky failed ({what})")
