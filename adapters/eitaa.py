"""Eitaa (ایتا) channels: posts through its bot HTTP API at `https://eitaayar.ir/api/<TOKEN>/<method>`,
reach and reconciliation from the channel's public page `{web_base}/<channel>` (eitaa.com).

- Text: `sendMessage(chat_id, text)`. Pictures and video: `sendFile` with the bytes as a multipart
  `file` and the text as `caption` (Eitaa takes a file, not a URL). One file a message: the API has
  no media groups, so an item's first picture or video goes.
- Amplification: the API has no forward, so a partner `copy`s: it posts the item (with its media)
  itself, in its own wording from the network's `copy_template`, linking to the original post.
- Reach: the public page shows the member count and each recent post's view counter; the bot API
  shows neither. Posts older than the page's latest messages get no views.
- Reconciliation: after an unknown outcome, the public page is searched for the post by its text;
  found, it is recorded as posted; not found (or a channel without a public page, a numeric id), the
  delivery is `unconfirmed`, since a page that lags could otherwise make us post twice.
Eitaa documents no error format: errors are read as the Telegram-style envelope its clients expect,
falling back on the HTTP status. No rate limit is documented either.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters import register
from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    CannotReconcile,
    ChannelPost,
    DeliveryError,
    Engagement,
    LazySession,
    MediaFile,
    MediaKind,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
    Updates,
)
from adapters.eitaa_page import ChannelPage, parse_channel_page
from schemas import Action, Delivery, Item, PostRef

FALLBACK_RETRY_AFTER = timedelta(seconds=60)
CAPTION_LIMIT = 1024
ChatId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(@?[A-Za-z0-9_]+|-?\d+)$")]


class EitaaCredentials(BaseModel):
    """The token from eitaayar.ir (its bot panel) and the channel's id or username."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, coerce_numbers_to_str=True
    )

    token: str = Field(min_length=10, pattern=r"^[A-Za-z0-9_:.-]+$", repr=False)
    chat_id: ChatId


@register
class EitaaAdapter(Adapter[EitaaCredentials]):
    platform: ClassVar[str] = "eitaa"
    title: ClassVar[str] = "ایتا"
    name: ClassVar[str] = "Eitaa"
    credentials_model: ClassVar[type[BaseModel]] = EitaaCredentials
    default_api_base: ClassVar[str] = "https://eitaayar.ir"
    default_web_base: ClassVar[str | None] = "https://eitaa.com"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.COPY: "copy"}
    text_limit: ClassVar[int] = 4096
    media_limit: ClassVar[int] = 1
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video"})
    # Eitaa documents no file limits; Bale's upload limits are assumed.
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {
        "image": 10 * 1024 * 1024,
        "video": 50 * 1024 * 1024,
    }
    secret_fields: ClassVar[frozenset[str]] = frozenset({"token"})
    # One page read serves every post on it.
    supports_metrics: ClassVar[bool] = True
    metrics_batch_size: ClassVar[int] = 100

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._http = LazySession(self.timeout_seconds)

    def account_label(self, credentials: EitaaCredentials) -> str:
        return f"eitaa:{credentials.chat_id}"

    def limit_for(self, item: Item) -> tuple[int, str]:
        return (CAPTION_LIMIT, "caption limit") if item.media else (self.text_limit, "limit")

    async def publish(
        self, credentials: EitaaCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        self.check_media(media)
        chat = _channel(credentials)
        if media:
            first = media[0]
            form = aiohttp.FormData()
            form.add_field("chat_id", chat)
            form.add_field("caption", delivery.text)
            form.add_field("file", first.data, filename=first.filename, content_type=first.content_type)
            result = await self._call(credentials, "sendFile", form)
        else:
            result = await self._call(credentials, "sendMessage", {"chat_id": chat, "text": delivery.text})
        message_id = str(result.get("message_id", "")) if isinstance(result, dict) else ""
        if not message_id:
            raise AmbiguousError("eitaa answered ok without a message id; the message may have been sent")
        return Posted(post_id=message_id, url=self._post_url(chat, message_id), chat=credentials.chat_id)

    async def amplify(
        self,
        credentials: EitaaCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action is not Action.COPY:
            raise PermanentError(f"eitaa cannot {delivery.action}: its API has no forward; use copy")
        # The partner's own post: its wording (from copy_template) and the item's media.
        return await self.publish(credentials, delivery, media)

    async def reconcile(self, credentials: EitaaCredentials, delivery: Delivery) -> Posted | None:
        page = await self._page(credentials)
        where = f"{self.web_base}/{_channel(credentials)}"
        if page is None:
            raise CannotReconcile(f"the channel has no public page at {where} to look the post up on")
        found = page.find_text(delivery.text)
        if found is None:
            raise CannotReconcile(f"the post is not among the latest messages on {where}")
        chat = _channel(credentials)
        return Posted(
            post_id=found.message_id, url=self._post_url(chat, found.message_id), chat=credentials.chat_id
        )

    async def metrics(self, credentials: EitaaCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        page = await self._page(credentials)
        if page is None:
            return {}
        # A view on Eitaa's counter is one showing of the post: its impressions.
        return {key: Engagement(impressions=n, views=n) for key, n in page.views_of(post_ids).items()}

    async def audience(self, credentials: EitaaCredentials) -> int | None:
        page = await self._page(credentials)
        return page.members if page is not None else None

    # --- the channel watcher: new posts read off the public page ----------------------------------

    reads_channel_posts: ClassVar[bool] = True
    # The page is a public web page, not an API: read it this often at most.
    page_interval_seconds: ClassVar[float] = 10.0

    def update_source(self, credentials: EitaaCredentials) -> str | None:
        chat = _channel(credentials)
        return None if chat.lstrip("-").isdigit() or not self.web_base else f"page.{chat.lower()}"

    def watches(self, credentials: EitaaCredentials, post: ChannelPost) -> bool:
        return post.chat.lower() == _channel(credentials).lower()

    async def updates(
        self, credentials: EitaaCredentials, offset: str | None, timeout_seconds: float
    ) -> Updates:
        """Posts newer than `offset` (a message id) on the channel's page. The first read only notes
        where the channel is: what was posted before Hamafza watched is not taken."""
        page = await self._page(credentials)
        chat = _channel(credentials)
        messages = page.messages if page is not None else []
        newest = max((int(m.message_id) for m in messages), default=None)
        if offset is None or not offset.isdigit():
            if page is None:
                return Updates((), None)
            return Updates((), str(newest) if newest is not None else "0")
        fresh = sorted(
            (m for m in messages if int(m.message_id) > int(offset)), key=lambda m: int(m.message_id)
        )
        if not fresh:
            await asyncio.sleep(min(timeout_seconds, self.page_interval_seconds))
            return Updates((), offset)
        events = tuple(
            ChannelPost(
                chat=chat,
                message_id=m.message_id,
                text=m.text,
                username=chat,
                url=self._post_url(chat, m.message_id),
            )
            for m in fresh
        )
        return Updates(events, fresh[-1].message_id)

    def source_post(self, credentials: EitaaCredentials, posts: Sequence[ChannelPost]) -> Posted:
        chat = _channel(credentials)
        return Posted(
            post_id=posts[0].message_id,
            url=self._post_url(chat, posts[0].message_id),
            chat=credentials.chat_id,
        )

    async def aclose(self) -> None:
        await self._http.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _post_url(self, chat: str, message_id: str) -> str | None:
        return (
            None
            if chat.lstrip("-").isdigit() or not self.web_base
            else f"{self.web_base}/{chat}/{message_id}"
        )

    async def _page(self, credentials: EitaaCredentials) -> ChannelPage | None:
        """The channel's public page, parsed; None for a channel that has none (a numeric id, a 404)."""
        chat = _channel(credentials)
        if chat.lstrip("-").isdigit() or not self.web_base:
            return None
        url = f"{self.web_base}/{chat}"
        try:
            async with self._http.get().get(url) as response:
                if response.status == 404:
                    return None
                if response.status >= 500 or response.status == 429:
                    raise RetryableError(f"eitaa's public page {url} answered {response.status}; try later")
                if response.status != 200:
                    raise PermanentError(f"eitaa's public page {url} answered {response.status}")
                html = await response.text(errors="replace")
        except (TimeoutError, aiohttp.ClientError) as error:
            raise RetryableError(
                f"could not read eitaa's public page {url} ({type(error).__name__})"
            ) from None
        return parse_channel_page(html, chat)

    async def _call(
        self, credentials: EitaaCredentials, method: str, data: dict[str, str] | aiohttp.FormData
    ) -> Any:
        url = f"{self.api_base}/api/{credentials.token}/{method}"
        failure: DeliveryError
        try:
            async with self._http.get().post(url, data=data) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return self._result(response.status, response.headers, body)
        except aiohttp.ClientConnectorError:
            failure = RetryableError("could not connect to Eitaa; nothing was sent")
        except aiohttp.ConnectionTimeoutError:
            failure = RetryableError("timed out connecting to Eitaa; nothing was sent")
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = AmbiguousError(
                f"Eitaa may or may not have sent the message ({type(error).__name__} after the request)"
            )
        # Raised here, without the aiohttp error (whose URL holds the token) as its context.
        raise failure

    def _result(self, status: int, headers: Any, body: Any) -> Any:
        envelope = body if isinstance(body, dict) else {}
        if status == 200 and envelope.get("ok") is True:
            return envelope.get("result")
        code = int(envelope.get("error_code") or status)
        description = str(envelope.get("description") or f"HTTP {status}")
        said = f"eitaa answered {code}: {description}"
        if status == 200 and not envelope:
            raise AmbiguousError(f"eitaa answered 200 with a body that is not its JSON envelope ({said})")
        if code == 429 or status == 429:
            raise RateLimitedError(said, reset_at=datetime.now(UTC) + _retry_after(envelope, headers))
        if code in {401, 403} or status in {401, 403}:
            raise AuthError(f"{said}; renew the token and make its bot an admin of the channel")
        if code >= 500 or status >= 500:
            raise RetryableError(said)
        raise PermanentError(said)


def _retry_after(envelope: dict[str, Any], headers: Any) -> timedelta:
    parameters = envelope.get("parameters") if isinstance(envelope.get("parameters"), dict) else {}
    for value in ((parameters or {}).get("retry_after"), headers.get("Retry-After")):
        if value is not None and re.fullmatch(r"\d+(\.\d+)?", str(value)):
            return timedelta(seconds=float(value))
    return FALLBACK_RETRY_AFTER


def _channel(credentials: EitaaCredentials) -> str:
    return credentials.chat_id.lstrip("@")
