"""Rubika (روبیکا) channels, through its Bot API v3: `POST {api_base}/v3/{bot_token}/{method}` with JSON.

Answers are `{"status": "OK", "data": {…}}`; a refusal is another `status` with a `dev_message`
(`INVALID_ACCESS`: the token or the bot's rights; `INVALID_INPUT`: the request; `TOO_REQUESTS`:
slow down), usually with HTTP 200. Rubika documents no reset for its rate limit: a `Retry-After`
header is honoured if present, else the account waits a minute.

- Text: `sendMessage(chat_id, text)` → `data.message_id`.
- Media, in three steps: `requestSendFile(type)` → `data.upload_url`; a multipart `file` POST of the
  bytes to that URL → `data.file_id`; `sendFile(chat_id, file_id, text)`. Only the last step posts,
  so only its unknown outcome is ambiguous; a failed request or upload is safe to retry. One file a
  message: Rubika has no albums, so the item's first picture or video goes, with the text.
- Amplification: `forwardMessage(from_chat_id, message_id, to_chat_id)` → `data.new_message_id`.
- Audience: `getChatMemberCount(chat_id)`. Bots cannot read views, and a bot cannot list a channel's
  history, so an ambiguous send cannot be reconciled (an `unconfirmed` dead letter).
- `get_updates` (`getUpdates` with `offset_id` / `next_offset_id`; no long poll) is here for the
  channel watchers: bots that administer a channel receive its posts.

Why raw aiohttp and not `rubka` (PyPI, "the official SDK"): its base URL is one of two hard-coded
hosts (a fake, a proxy or the sandbox cannot be put in front of it), it retries every call on a
timeout by itself (a timed-out `sendFile` would be posted twice), its errors carry the request URL
and so the token, it bundles a phone-login (self-account) client, and it is under a proprietary
licence. The API is four JSON calls; plain HTTP is shorter than adapting the SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters import register
from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    ButtonPress,
    ChannelPost,
    Choice,
    DeliveryError,
    LazySession,
    MediaFile,
    MediaKind,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
    Updates,
)
from schemas import Action, Delivery, PostRef

FALLBACK_RETRY_AFTER = timedelta(seconds=60)
# Rubika's object guids: `c0…` channels, `g0…` groups, `b0…` bot chats, `u0…` users.
ObjectGuid = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_]{4,64}$")]
# requestSendFile's types for the kinds Hamafza sends.
UPLOAD_TYPES: Mapping[MediaKind, str] = {"image": "Image", "video": "Video"}
AUTH_STATUSES = frozenset({"INVALID_ACCESS", "INVALID_TOKEN", "UNAUTHORIZED"})
RATE_STATUSES = frozenset({"TOO_REQUESTS", "TOO_REQUEST", "TOO_MANY_REQUESTS"})
SERVER_STATUSES = frozenset({"SERVER_ERROR", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})


class RubikaCredentials(BaseModel):
    """A bot token from Rubika's @BotFather, and the channel's object guid (the bot is its admin)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    bot_token: str = Field(min_length=10, pattern=r"^[A-Za-z0-9_:.-]+$", repr=False)
    chat_id: ObjectGuid


@dataclass(frozen=True, slots=True)
class RubikaUpdates:
    """One `getUpdates` page: the updates (as Rubika sends them) and where the next page starts."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    next_offset_id: str | None = None


@register
class RubikaAdapter(Adapter[RubikaCredentials]):
    platform: ClassVar[str] = "rubika"
    title: ClassVar[str] = "روبیکا"
    name: ClassVar[str] = "Rubika"
    credentials_model: ClassVar[type[BaseModel]] = RubikaCredentials
    default_api_base: ClassVar[str] = "https://botapi.rubika.ir"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.FORWARD: "forward"}
    # Rubika documents no text limit for bots; Telegram's 4,096 is assumed (the fake holds to it).
    text_limit: ClassVar[int] = 4096
    media_limit: ClassVar[int] = 1
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {
        "image": 10 * 1024 * 1024,
        "video": 50 * 1024 * 1024,
    }
    secret_fields: ClassVar[frozenset[str]] = frozenset({"bot_token"})
    rate_limit: ClassVar[str | None] = "20/minute"

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._http = LazySession(self.timeout_seconds)

    def account_label(self, credentials: RubikaCredentials) -> str:
        return f"rubika:{credentials.chat_id}"

    async def publish(
        self, credentials: RubikaCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        chat = credentials.chat_id
        if not media:
            data = await self._call(credentials, "sendMessage", {"chat_id": chat, "text": delivery.text})
            return self._posted(data, "message_id", chat)
        file_id = await self._upload(credentials, media[0])
        payload = {"chat_id": chat, "file_id": file_id, "text": delivery.text}
        return self._posted(await self._call(credentials, "sendFile", payload), "message_id", chat)

    async def amplify(
        self,
        credentials: RubikaCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action is not Action.FORWARD:
            raise PermanentError(f"rubika cannot {delivery.action}")
        if not source.chat:
            raise PermanentError("the post to forward has no chat id; it cannot be forwarded")
        payload = {
            "from_chat_id": source.chat,
            "message_id": source.post_id,
            "to_chat_id": credentials.chat_id,
            "disable_notification": False,
        }
        data = await self._call(credentials, "forwardMessage", payload)
        return self._posted(data, "new_message_id", credentials.chat_id)

    async def audience(self, credentials: RubikaCredentials) -> int | None:
        data = await self._call(
            credentials, "getChatMemberCount", {"chat_id": credentials.chat_id}, posts=False
        )
        count = data.get("member_count") if isinstance(data, dict) else data
        return int(count) if isinstance(count, int | str) and str(count).isdigit() else None

    async def get_updates(
        self, credentials: RubikaCredentials, offset_id: str | None = None, limit: int = 100
    ) -> RubikaUpdates:
        """One page of the bot's updates from `offset_id` (the previous page's `next_offset_id`)."""
        payload: dict[str, Any] = {"limit": limit}
        if offset_id:
            payload["offset_id"] = offset_id
        data = await self._call(credentials, "getUpdates", payload, posts=False)
        data = data if isinstance(data, dict) else {}
        updates = [update for update in data.get("updates") or [] if isinstance(update, dict)]
        following = data.get("next_offset_id")
        return RubikaUpdates(updates, str(following) if following else offset_id)

    # --- the channel watcher: new channel messages from getUpdates ---------------------------------

    reads_channel_posts: ClassVar[bool] = True
    # Rubika's getUpdates does not wait for news: poll about this often (clients poll every ~3 s).
    poll_interval_seconds: ClassVar[float] = 3.0

    def update_source(self, credentials: RubikaCredentials) -> str | None:
        return "bot." + hashlib.sha256(credentials.bot_token.encode()).hexdigest()[:16]

    def watches(self, credentials: RubikaCredentials, post: ChannelPost) -> bool:
        return post.chat == credentials.chat_id

    async def updates(
        self, credentials: RubikaCredentials, offset: str | None, timeout_seconds: float
    ) -> Updates:
        """New, edited and removed channel messages after `offset`; the first read only notes where the
        stream is, so what was posted before Hamafza watched is not taken."""
        page = await self.get_updates(credentials, offset)
        if offset is None:
            return Updates((), page.next_offset_id or "0")
        events = tuple(event for update in page.updates if (event := _event(update)) is not None)
        if not page.updates:
            await asyncio.sleep(min(timeout_seconds, self.poll_interval_seconds))
        return Updates(events, page.next_offset_id)

    # --- approval requests: a keypad under a message; a press is a message with its button id -----

    can_ask: ClassVar[bool] = True

    async def ask(
        self, credentials: RubikaCredentials, chat_id: str, text: str, choices: Sequence[Choice]
    ) -> str:
        keypad = {
            "rows": [{"buttons": [{"id": c.data, "type": "Simple", "button_text": c.label} for c in choices]}]
        }
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if choices:
            payload["inline_keypad"] = keypad
        data = await self._call(credentials, "sendMessage", payload)
        return self._posted(data, "message_id", chat_id).post_id

    async def answer(self, credentials: RubikaCredentials, press: ButtonPress, text: str) -> None:
        # Rubika has no notice for a press: the answer is a message in the same chat.
        await self._call(credentials, "sendMessage", {"chat_id": press.chat, "text": text})

    def source_post(self, credentials: RubikaCredentials, posts: Sequence[ChannelPost]) -> Posted:
        return Posted(post_id=posts[0].message_id, url=None, chat=credentials.chat_id)

    async def aclose(self) -> None:
        await self._http.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _posted(self, data: Any, key: str, chat: str) -> Posted:
        message_id = str(data.get(key) or "") if isinstance(data, dict) else ""
        if not message_id:
            raise AmbiguousError(f"rubika answered OK without a {key}; the message may have been sent")
        return Posted(post_id=message_id, url=None, chat=chat)

    async def _upload(self, credentials: RubikaCredentials, media: MediaFile) -> str:
        """Steps one and two: an upload URL for the file's type, then the bytes to it; the file id."""
        upload_type = UPLOAD_TYPES.get(media.kind)
        if upload_type is None:
            raise PermanentError(f"rubika takes no {media.content_type} files")
        data = await self._call(credentials, "requestSendFile", {"type": upload_type}, posts=False)
        upload_url = str(data.get("upload_url") or "") if isinstance(data, dict) else ""
        if not upload_url.startswith(("https://", "http://")):
            raise RetryableError("rubika gave no upload URL for the file; nothing was sent")
        form = aiohttp.FormData()
        form.add_field("file", media.data, filename=media.filename, content_type=media.content_type)
        answer = await self._send(upload_url, form, posts=False, what="the file upload")
        file_id = str(answer.get("file_id") or "") if isinstance(answer, dict) else ""
        if not file_id:
            raise RetryableError("rubika's upload answered without a file id; nothing was sent")
        return file_id

    async def _call(
        self, credentials: RubikaCredentials, method: str, payload: dict[str, Any], *, posts: bool = True
    ) -> Any:
        url = f"{self.api_base}/v3/{credentials.bot_token}/{method}"
        return await self._send(url, payload, posts=posts, what=method)

    async def _send(
        self, url: str, body: dict[str, Any] | aiohttp.FormData, *, posts: bool, what: str
    ) -> Any:
        """One POST (JSON, or a multipart form); `posts` says whether it can put a message in the
        channel, so whether an unknown outcome is ambiguous or merely retryable."""
        failure: DeliveryError
        options: dict[str, Any] = {"data": body} if isinstance(body, aiohttp.FormData) else {"json": body}
        try:
            async with self._http.get().post(url, **options) as response:
                try:
                    envelope = await response.json(content_type=None)
                except ValueError:
                    envelope = None
                return self._result(response.status, response.headers, envelope, posts=posts, what=what)
        except aiohttp.ClientConnectorError:
            failure = RetryableError("could not connect to Rubika; nothing was sent")
        except aiohttp.ConnectionTimeoutError:
            failure = RetryableError("timed out connecting to Rubika; nothing was sent")
        except (TimeoutError, aiohttp.ClientError) as error:
            happened = f"{type(error).__name__} after the request"
            failure = (
                AmbiguousError(f"Rubika may or may not have posted the message ({happened})")
                if posts
                else RetryableError(f"Rubika's {what} failed ({happened}); nothing was posted")
            )
        # Raised here, without the aiohttp error (whose URL holds the token) as its context.
        raise failure

    def _result(self, status: int, headers: Any, body: Any, *, posts: bool, what: str) -> Any:
        envelope = body if isinstance(body, dict) else {}
        verdict = str(envelope.get("status") or "")
        if status == 200 and verdict == "OK":
            return envelope.get("data")
        detail = str(envelope.get("dev_message") or envelope.get("status_det") or f"HTTP {status}")
        said = f"rubika answered {verdict or status} to {what}: {detail}"
        if status == 200 and not envelope:
            if posts:
                raise AmbiguousError(f"rubika answered 200 with a body that is not its envelope ({said})")
            raise RetryableError(f"rubika answered 200 with a body that is not its envelope ({said})")
        if status == 429 or verdict in RATE_STATUSES:
            raise RateLimitedError(said, reset_at=datetime.now(UTC) + _retry_after(headers))
        if status in {401, 403} or verdict in AUTH_STATUSES:
            raise AuthError(f"{said}; renew the bot token and make the bot an admin of the channel")
        if status >= 500 or verdict in SERVER_STATUSES:
            raise RetryableError(said)
        raise PermanentError(said)


def _retry_after(headers: Any) -> timedelta:
    value = headers.get("Retry-After")
    if value is not None and re.fullmatch(r"\d+(\.\d+)?", str(value)):
        return timedelta(seconds=float(value))
    return FALLBACK_RETRY_AFTER


def _event(update: dict[str, Any]) -> ChannelPost | ButtonPress | None:
    """A keypad press (a new message carrying `aux_data.button_id`), else a channel post."""
    message = update.get("new_message")
    if update.get("type") == "NewMessage" and isinstance(message, dict):
        aux = message.get("aux_data")
        if isinstance(aux, dict) and aux.get("button_id"):
            return ButtonPress(
                id=str(message.get("message_id", "")),
                chat=str(update.get("chat_id", "")),
                data=str(aux["button_id"]),
                user=str(message["sender_id"]) if message.get("sender_id") else None,
            )
    return _channel_post(update)


def _channel_post(update: dict[str, Any]) -> ChannelPost | None:
    """A `NewMessage` / `UpdatedMessage` / `RemovedMessage` update of a chat as a channel post."""
    kind, chat = update.get("type"), update.get("chat_id")
    if not isinstance(chat, str):
        return None
    if kind == "RemovedMessage":
        removed = update.get("removed_message_id")
        return ChannelPost(chat=chat, message_id=str(removed), deleted=True) if removed else None
    message = update.get("new_message") if kind == "NewMessage" else update.get("updated_message")
    if kind not in ("NewMessage", "UpdatedMessage") or not isinstance(message, dict):
        return None
    if not message.get("message_id"):
        return None
    return ChannelPost(
        chat=chat,
        message_id=str(message["message_id"]),
        text=str(message.get("text") or ""),
        edited=kind == "UpdatedMessage",
        forwarded="forwarded_from" in message,
    )
