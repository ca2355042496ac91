"""Mastodon, through Mastodon.py (synchronous: every call runs in a worker thread).

Each account may live on its own server (`instance_url`); without one, the platform's `api_base`.
Publishing sends an `Idempotency-Key` equal to the delivery id: Mastodon keeps it per account for an
hour and answers a repeat with the status it already made, so a resend after a lost answer never
posts twice. Pictures and video go up first (`media_post`, alt text as the description) and are
waited for until processed. Amplification is a boost (reblog), itself idempotent on Mastodon. `reconcile` looks for
the delivery's text among the account's newest statuses.

Text is held to 500 characters (every Mastodon server allows at least that), or to the server's own
`configuration.statuses.max_characters` once the adapter has read it from `/api/v2/instance` (on the
first publish); every URL counts 23 characters, as Mastodon counts them.
"""

from __future__ import annotations

import asyncio
import html
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from adapters import register
from adapters.base import (
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
from schemas import Action, Delivery, Item, PostRef

URL = re.compile(r"https?://\S+")
URL_WEIGHT = 23
DEFAULT_RATE_WINDOW = timedelta(minutes=5)
RECENT_STATUSES = 40
ALT_TEXT_LIMIT = 1500  # MediaAttachment::MAX_DESCRIPTION_LENGTH
PROCESSING_POLL_SECONDS = 0.5
SERVER_VERSION = "4.0.0"
T = TypeVar("T")


class MastodonCredentials(BaseModel):
    """An access token with `write:statuses` and `read` scopes, for an account on `instance_url`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=True
    )

    access_token: str = Field(min_length=1, repr=False)
    instance_url: str | None = Field(default=None, description="The account's server; api_base if absent.")
    account: str | None = Field(default=None, description="`@user@server`, for logs only.")

    @field_validator("instance_url")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("instance_url must be an http(s) URL, such as https://mastodon.social")
        return value.rstrip("/") if value else value


@register
class MastodonAdapter(Adapter[MastodonCredentials]):
    platform: ClassVar[str] = "mastodon"
    title: ClassVar[str] = "ماستودون"
    name: ClassVar[str] = "Mastodon"
    credentials_model: ClassVar[type[BaseModel]] = MastodonCredentials
    default_api_base: ClassVar[str] = "https://mastodon.social"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.REPOST: "boost"}
    text_limit: ClassVar[int] = 500
    # Mastodon 4.x defaults (media_attachment.rb; /api/v2/instance `configuration.media_attachments`):
    # 4 attachments, images up to 16 MB, video up to 99 MB; alt text up to 1500 characters.
    media_limit: ClassVar[int] = 4
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {
        "image": 16 * 1024 * 1024,
        "video": 99 * 1024 * 1024,
    }
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_token"})
    supports_metrics: ClassVar[bool] = True

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._clients: dict[tuple[str, str], Mastodon] = {}
        # Character limits read from the servers' /api/v2/instance, by server URL.
        self.instance_limits: dict[str, int] = {}

    # --- rendering -------------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        return len(URL.sub("x" * URL_WEIGHT, unicodedata.normalize("NFC", text)))

    def limit_for(self, item: Item) -> tuple[int, str]:
        # Rendering happens before an account is chosen: the smallest limit of the servers seen so far.
        return min(self.instance_limits.values(), default=self.text_limit), "limit"

    def account_label(self, credentials: MastodonCredentials) -> str:
        return f"mastodon:{credentials.account or urlsplit(self._base(credentials)).netloc}"

    # --- deliveries ------------------------------------------------------------------------------

    async def publish(
        self, credentials: MastodonCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        await self._learn_limit(credentials)
        media = media[: self.media_limit]
        self.check_media(media)
        media_ids = [await self._upload(credentials, file) for file in media] or None
        status = await self._call(
            credentials,
            lambda api: api.status_post(
                delivery.text, media_ids=media_ids, visibility="public", idempotency_key=delivery.id
            ),
        )
        return _posted(status)

    async def _upload(self, credentials: MastodonCredentials, file: MediaFile) -> str:
        """One attachment with its alt text, waited for until the server has processed it (video
        is processed after the upload answers; a status cannot carry it before)."""
        description = file.alt[:ALT_TEXT_LIMIT] if file.alt else None
        attachment = await self._call(
            credentials,
            lambda api: api.media_post(
                file.data, mime_type=file.content_type, description=description, file_name=file.filename
            ),
        )
        # Uploading again after a failure only leaves an unattached file, which Mastodon deletes.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        while attachment.get("url") is None:
            if loop.time() > deadline:
                raise RetryableError("the Mastodon server was still processing the media; trying again later")
            await asyncio.sleep(PROCESSING_POLL_SECONDS)
            attachment = await self._call(credentials, _media_reader(str(attachment["id"])), write=False)
        return str(attachment["id"])

    async def amplify(
        self,
        credentials: MastodonCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action is not Action.REPOST:
            return await super().amplify(credentials, delivery, source)
        status = await self._call(credentials, lambda api: api.status_reblog(source.post_id))
        return _posted(status)

    async def reconcile(self, credentials: MastodonCredentials, delivery: Delivery) -> Posted | None:
        """A boost is idempotent, so it is never reconciled; a status is found by its text."""
        if delivery.action is Action.REPOST:
            return None
        me = await self._call(credentials, lambda api: api.me(), write=False)
        statuses = await self._call(
            credentials, lambda api: api.account_statuses(me["id"], limit=RECENT_STATUSES), write=False
        )
        wanted = " ".join(delivery.text.split())
        for status in statuses:
            if plain_text(str(status.get("content") or "")) == wanted:
                return _posted(status)
        return None

    async def metrics(self, credentials: MastodonCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        found: dict[str, Engagement] = {}
        for post_id in post_ids:
            try:
                status = await self._call(credentials, _status_reader(post_id), write=False)
            except PermanentError:
                continue  # deleted, or not visible any more
            found[post_id] = Engagement(
                likes=int(status.get("favourites_count") or 0),
                reposts=int(status.get("reblogs_count") or 0),
                replies=int(status.get("replies_count") or 0),
            )
        return found

    async def audience(self, credentials: MastodonCredentials) -> int | None:
        me = await self._call(credentials, lambda api: api.me(), write=False)
        count = me.get("followers_count")
        return int(count) if count is not None else None

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.session.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _base(self, credentials: MastodonCredentials) -> str:
        return credentials.instance_url or self.api_base

    def _client(self, credentials: MastodonCredentials) -> Mastodon:
        key = (self._base(credentials), credentials.access_token)
        client = self._clients.get(key)
        if client is None:
            client = Mastodon(
                access_token=credentials.access_token,
                api_base_url=key[0],
                # A 429 pauses this account through the deliver service; never sleep in a worker.
                ratelimit_method="throw",
                # requests takes (connect, read); Mastodon.py passes it through, though typed float.
                request_timeout=(min(5.0, self.timeout_seconds), self.timeout_seconds),  # type: ignore[arg-type]
                version_check_mode="none",
                mastodon_version=SERVER_VERSION,  # never asks the server; see below
            )
            # Mastodon.py reads a given version only when it checks versions, yet `media_post` picks
            # /api/v2/media (every server since 3.1.4) by these fields; set them rather than ask.
            client.mastodon_major, client.mastodon_minor, client.mastodon_patch = 4, 0, 0
            self._clients[key] = client
        return client

    async def _learn_limit(self, credentials: MastodonCredentials) -> None:
        base = self._base(credentials)
        if base in self.instance_limits:
            return
        try:
            instance = await self._call(credentials, lambda api: api.instance_v2(), write=False)
            limit = int(instance["configuration"]["statuses"]["max_characters"])
        except (DeliveryError, KeyError, TypeError, ValueError):
            return  # an older server, or a hiccup: the 500 default stands, and the server still checks
        self.instance_limits[base] = limit

    async def _call(
        self, credentials: MastodonCredentials, operation: Callable[[Mastodon], T], write: bool = True
    ) -> T:
        client = self._client(credentials)
        try:
            return await asyncio.to_thread(operation, client)
        except MastodonError as error:
            failure = translate(error, client, write)
        # Raised outside the except block: no library exception (with its request) rides along.
        raise failure


def _media_reader(media_id: str) -> Callable[[Mastodon], Any]:
    return lambda api: api.media(media_id)


def _status_reader(post_id: str) -> Callable[[Mastodon], Any]:
    return lambda api: api.status(post_id)


def _posted(status: Any) -> Posted:
    return Posted(post_id=str(status["id"]), url=status.get("url") or status.get("uri"))


def plain_text(content: str) -> str:
    """A status's HTML content as text: paragraphs and breaks to spaces, tags dropped, entities decoded."""
    text = re.sub(r"<br\s*/?>|</p>\s*<p>", " ", content)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(unicodedata.normalize("NFC", text).split())


def translate(error: MastodonError, client: Mastodon, write: bool) -> DeliveryError:
    """The typed error for what Mastodon.py raised; messages carry Mastodon's words, never the token."""
    if isinstance(error, MastodonRatelimitError):
        reset = getattr(client, "ratelimit_reset", None)
        reset_at = (
            datetime.fromtimestamp(float(reset), UTC)
            if isinstance(reset, int | float)
            else datetime.now(UTC) + DEFAULT_RATE_WINDOW
        )
        return RateLimitedError(f"mastodon rate limit: wait until {reset_at.isoformat()}", reset_at=reset_at)
    if isinstance(error, MastodonNetworkError):
        cause = error.__context__
        if _not_sent(cause):
            return RetryableError(
                f"could not reach the Mastodon server ({type(cause).__name__}); nothing was sent"
            )
        if write:
            return AmbiguousError(
                f"the Mastodon server may or may not have done it ({type(cause).__name__} after sending)"
            )
        return RetryableError(f"reading from the Mastodon server failed ({type(cause).__name__})")
    if isinstance(error, MastodonAPIError):
        status, detail = _status_and_detail(error)
        said = f"mastodon answered {status}: {detail}"
        if isinstance(error, MastodonUnauthorizedError) or status == 403:
            return AuthError(f"{said} (renew the access token; it needs write:statuses and read)")
        if isinstance(error, MastodonServerError) or (isinstance(status, int) and status >= 500):
            return RetryableError(said)
        if isinstance(error, MastodonNotFoundError):
            return PermanentError(said)
        if status == 429:
            return RateLimitedError(said, reset_at=datetime.now(UTC) + DEFAULT_RATE_WINDOW)
        return PermanentError(said)
    return RetryableError(f"mastodon client error: {type(error).__name__}")


def _status_and_detail(error: MastodonAPIError) -> tuple[int | str, str]:
    # Mastodon.py raises ('Mastodon API returned error', status, reason, error message).
    args = error.args
    status = args[1] if len(args) > 1 else "?"
    detail = str(args[3] if len(args) > 3 and args[3] else args[2] if len(args) > 2 else args[0])
    return status, detail


def _not_sent(cause: BaseException | None) -> bool:
    """Whether a requests failure happened before the request reached the server."""
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError):
        reason = cause.args[0] if cause.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False
