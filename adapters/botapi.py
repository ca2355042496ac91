"""One client for the Bot-API family (Telegram, Bale, Soroush+), on aiohttp, and each provider's profile.

The three speak Telegram's Bot API at `{api_base}/bot{token}/{method}`: parameters as JSON, or as
multipart when files are uploaded; answers `{"ok": true, "result": …}` or `{"ok": false, "error_code",
"description", "parameters"?: {"retry_after", "migrate_to_chat_id"}}`. Where they differ (a method's
name, which methods exist, caption sizes, how a bad token or flood control is answered) the
`BotApiProfile` says so; nothing outside this module asks which provider it is talking to.

Errors become the typed errors of `adapters.base` (`adapters.botapi_errors`). The token is part of every URL, so no error made
here carries a URL, an aiohttp exception or anything chained to one: each is raised outside the
`except` block that caught the transport error, with only the error's type name in its message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from adapters.base import (
    AmbiguousError,
    DeliveryError,
    LazySession,
    MediaFile,
    PermanentError,
    RetryableError,
)
from adapters.botapi_errors import translate

# aiohttp logs nothing about client requests at INFO, but its debug lines name request URLs: keep
# them off whatever level the root logger is set to.
logging.getLogger("aiohttp.client").setLevel(logging.WARNING)

Json = dict[str, Any]
# Photos Telegram shows inline; any other image is sent as a document, which keeps it whole.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
ALBUM_SIZES = range(2, 11)
MAX_CONNECTIONS = 2_000
# Transport errors after which the request surely never reached the provider.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)


@dataclass(frozen=True, slots=True)
class BotApiProfile:
    """What one provider of the Bot API does differently, as data."""

    name: str  # the platform's name, in messages
    default_api_base: str
    post_url_base: str | None  # public links to channel posts: {post_url_base}/{username}/{id}
    text_limit: int = 4096
    caption_limit: int = 1024
    member_count_method: str = "getChatMemberCount"
    has_copy: bool = True  # copyMessage
    has_forward_many: bool = True  # forwardMessages (an album forwarded as one call)
    has_media_group: bool = True
    has_secret_token: bool = True  # setWebhook's secret_token header
    chat_types: frozenset[str] = frozenset({"private", "group", "supergroup", "channel"})
    channel_posts_in_updates: bool = True  # getUpdates delivers `channel_post`
    # HTTP statuses (or error codes) meaning the token itself is refused.
    bad_token_codes: frozenset[int] = frozenset({401, 404})
    # A 429 without `retry_after` (Bale's "bot limit exceed"): wait this long.
    fallback_retry_after: timedelta = timedelta(seconds=60)
    # 400 descriptions meaning the account's channel is set up wrong, not that this post is bad.
    setup_problems: tuple[str, ...] = (
        "chat not found",
        "no such group or user",
        "not enough rights",
        "need administrator",
    )
    upload_limits: Mapping[str, int] = field(
        default_factory=lambda: {"photo": 10 * 1024 * 1024, "video": 50 * 1024 * 1024}
    )


TELEGRAM = BotApiProfile(
    name="telegram", default_api_base="https://api.telegram.org", post_url_base="https://t.me"
)
# Bale (docs.bale.ai): Telegram's API with `getChatMembersCount`, no supergroups, no webhook secret,
# no `channel_post` in updates, 403/404 for a bad token and a 429 that may lack `retry_after`.
BALE = BotApiProfile(
    name="bale",
    default_api_base="https://tapi.bale.ai",
    post_url_base="https://ble.ir",
    member_count_method="getChatMembersCount",
    has_forward_many=False,
    has_secret_token=False,
    chat_types=frozenset({"private", "group", "channel"}),
    channel_posts_in_updates=False,
    bad_token_codes=frozenset({401, 403, 404}),
)
# Soroush+ (soroushplus.com): "Telegram-compatible"; only getUpdates, sendMessage/Photo/Voice/Document
# are documented, so the rest follows Telegram's shape. Posting into a channel is unverified.
SOROUSH = BotApiProfile(
    name="soroush",
    default_api_base="https://api.splus.ir",
    post_url_base="https://splus.ir",
    has_copy=False,
    has_forward_many=False,
    has_secret_token=False,
)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file field of a multipart call."""

    field: str
    media: MediaFile


def media_method(media: MediaFile) -> tuple[str, str]:
    """The send method and its file parameter for one file: a video, a photo or a document."""
    if media.kind == "video":
        return "sendVideo", "video"
    if media.content_type.split(";")[0].strip() in PHOTO_TYPES:
        return "sendPhoto", "photo"
    return "sendDocument", "document"


class BotApiClient:
    """The Bot API of one provider, for any number of bot tokens; one aiohttp session."""

    def __init__(
        self, profile: BotApiProfile, api_base: str | None = None, timeout_seconds: float = 20.0
    ) -> None:
        self.profile = profile
        self.api_base = (api_base or profile.default_api_base).rstrip("/")
        self.timeout_seconds = timeout_seconds
        # Every bot of the provider shares one pool: as many calls in flight as the workers allow.
        self._http = LazySession(timeout_seconds, connections=MAX_CONNECTIONS)

    async def close(self) -> None:
        await self._http.close()

    # --- methods ---------------------------------------------------------------------------------

    async def send_message(
        self,
        token: str,
        chat_id: str,
        text: str,
        *,
        link: str | None = None,
        buttons: Sequence[tuple[str, str]] = (),
    ) -> Json:
        params: Json = {"chat_id": chat_id, "text": text}
        if link:
            # Preview the item's own link, not whichever URL comes first in the body.
            params["link_preview_options"] = {"is_disabled": False, "url": link}
        if buttons:
            # One row of inline buttons; each press comes back as a `callback_query` with its data.
            params["reply_markup"] = {
                "inline_keyboard": [[{"text": label, "callback_data": data} for label, data in buttons]]
            }
        return as_message(await self.call(token, "sendMessage", params))

    async def download_file(self, token: str, file_id: str) -> tuple[bytes, str | None]:
        """`getFile`, then the file from `{api_base}/file/bot<token>/<file_path>` (a URL that holds the
        token, so it is never logged or put in an item)."""
        found = await self.call(token, "getFile", {"file_id": file_id}, write=False)
        path = found.get("file_path") if isinstance(found, dict) else None
        if not isinstance(path, str) or not path:
            raise PermanentError(f"{self.profile.name} gave no file path for a channel file")
        url = f"{self.api_base}/file/bot{token}/{path}"
        try:
            async with self._http.get().get(url) as response:
                if response.status != 200:
                    raise RetryableError(f"{self.profile.name} answered {response.status} for a channel file")
                return await response.read(), response.headers.get("Content-Type")
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = RetryableError(f"{self.profile.name} file download failed ({type(error).__name__})")
        raise failure

    async def answer_callback_query(self, token: str, query_id: str, text: str) -> None:
        await self.call(token, "answerCallbackQuery", {"callback_query_id": query_id, "text": text[:200]})

    async def send_media(
        self, token: str, chat_id: str, media: MediaFile | str, caption: str, *, kind: str = "photo"
    ) -> Json:
        """One photo, video or document: uploaded bytes, or a URL the provider fetches itself."""
        params: Json = {"chat_id": chat_id}
        if caption:
            params["caption"] = caption
        if isinstance(media, str):
            method = {"photo": "sendPhoto", "video": "sendVideo"}.get(kind, "sendDocument")
            params[kind] = media
            return as_message(await self.call(token, method, params))
        method, name = media_method(media)
        return as_message(await self.call(token, method, params, [Upload(name, media)]))

    async def send_media_group(
        self, token: str, chat_id: str, media: Sequence[MediaFile | str], caption: str
    ) -> list[Json]:
        """An album of 2–10 photos and videos, the caption on the first; one message each."""
        if len(media) not in ALBUM_SIZES:
            raise PermanentError(f"an album has 2 to 10 items, not {len(media)}")
        items: list[Json] = []
        uploads: list[Upload] = []
        for index, entry in enumerate(media):
            if isinstance(entry, str):
                items.append({"type": "photo", "media": entry})
            else:
                uploads.append(Upload(f"file{index}", entry))
                items.append(
                    {"type": "video" if entry.kind == "video" else "photo", "media": f"attach://file{index}"}
                )
                # The Bot API has no alt text; the caption carries the words.
        if caption:
            items[0]["caption"] = caption
        result = await self.call(token, "sendMediaGroup", {"chat_id": chat_id, "media": items}, uploads)
        if not isinstance(result, list) or not result or not all(isinstance(m, dict) for m in result):
            raise AmbiguousError(f"{self.profile.name} answered an album without its messages")
        return [as_message(message) for message in result]

    async def forward_message(self, token: str, chat_id: str, from_chat_id: str, message_id: int) -> Json:
        params = {"chat_id": chat_id, "from_chat_id": from_chat_id, "message_id": message_id}
        return as_message(await self.call(token, "forwardMessage", params))

    async def forward_messages(
        self, token: str, chat_id: str, from_chat_id: str, message_ids: Sequence[int]
    ) -> list[int]:
        """Several messages (an album) in one call; the new message ids, in order."""
        params = {"chat_id": chat_id, "from_chat_id": from_chat_id, "message_ids": list(message_ids)}
        result = await self.call(token, "forwardMessages", params)
        return message_ids_of(self.profile.name, result)

    async def copy_message(
        self, token: str, chat_id: str, from_chat_id: str, message_id: int, caption: str | None = None
    ) -> int:
        """The message re-posted as the bot's own (no "forwarded from"); only the new id comes back."""
        if not self.profile.has_copy:
            raise PermanentError(f"{self.profile.name} has no copyMessage")
        params: Json = {"chat_id": chat_id, "from_chat_id": from_chat_id, "message_id": message_id}
        if caption is not None:
            params["caption"] = caption
        result = await self.call(token, "copyMessage", params)
        return message_ids_of(self.profile.name, [result])[0]

    async def chat_member_count(self, token: str, chat_id: str) -> int:
        result = await self.call(token, self.profile.member_count_method, {"chat_id": chat_id}, write=False)
        if not isinstance(result, int):
            raise RetryableError(f"{self.profile.name} answered a member count that is not a number")
        return result

    async def get_updates(
        self,
        token: str,
        *,
        offset: int | None = None,
        timeout: int = 0,
        allowed_updates: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[Json]:
        """Long-poll the bot's updates. One reader per token: a second one gets `UpdatesConflict`."""
        params: Json = {"timeout": timeout, "limit": limit}
        if offset is not None:
            params["offset"] = offset
        if allowed_updates is not None:
            params["allowed_updates"] = list(allowed_updates)
        # The provider holds the call for up to `timeout` seconds: the read deadline goes past it.
        result = await self.call(token, "getUpdates", params, write=False, extra_seconds=timeout)
        if not isinstance(result, list):
            raise RetryableError(f"{self.profile.name} answered updates that are not a list")
        return [update for update in result if isinstance(update, dict)]

    # --- plumbing --------------------------------------------------------------------------------

    async def call(
        self,
        token: str,
        method: str,
        params: Json,
        uploads: Sequence[Upload] = (),
        *,
        write: bool = True,
        extra_seconds: float = 0,
    ) -> Any:
        """POST one method; its `result`, or the typed error for what the provider (or the way to it) said."""
        url = f"{self.api_base}/bot{token}/{method}"
        body: dict[str, Any] = {"data": multipart(params, uploads)} if uploads else {"json": params}
        if extra_seconds:
            body["timeout"] = aiohttp.ClientTimeout(
                total=self.timeout_seconds + extra_seconds, sock_connect=5
            )
        failure: DeliveryError
        try:
            async with self._http.get().post(url, **body) as response:
                raw = await response.read()
                status = response.status
        except NOT_SENT as error:
            failure = RetryableError(
                f"{self.profile.name} could not be reached ({type(error).__name__}); nothing was sent"
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            said = (
                "did not answer in time"
                if isinstance(error, TimeoutError)
                else f"dropped the connection ({type(error).__name__})"
            )
            failure = (
                AmbiguousError(f"{self.profile.name} {said}; the message may have been sent")
                if write
                else RetryableError(f"{self.profile.name} {said}")
            )
        else:
            return self._result(status, raw, token, write=write)
        # Raised here, so the aiohttp error (whose URL holds the token) is not its context.
        raise failure

    def _result(self, status: int, raw: bytes, token: str, *, write: bool) -> Any:
        try:
            envelope = json.loads(raw)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            if status == 200:
                if write:
                    raise AmbiguousError(
                        f"{self.profile.name} answered 200 without its JSON envelope; it may have posted"
                    )
                raise RetryableError(f"{self.profile.name} answered 200 without its JSON envelope")
            envelope = {}
        if status == 200 and envelope.get("ok") is True:
            return envelope.get("result")
        raise translate(self.profile, status, envelope, token)


def multipart(params: Json, uploads: Sequence[Upload]) -> aiohttp.FormData:
    """Form fields (objects as JSON, as the Bot API reads them) and the uploaded files."""
    form = aiohttp.FormData()
    for key, value in params.items():
        form.add_field(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    for upload in uploads:
        form.add_field(
            upload.field,
            upload.media.data,
            filename=upload.media.filename,
            content_type=upload.media.content_type,
        )
    return form


def as_message(result: Any) -> Json:
    if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
        raise AmbiguousError("the provider answered ok without a message id; the message may have been sent")
    return result


def message_ids_of(name: str, result: Any) -> list[int]:
    """`[{"message_id": 4}, …]` (MessageId objects, as copy and forwardMessages answer) as ints."""
    if isinstance(result, list):
        ids = [entry.get("message_id") for entry in result if isinstance(entry, dict)]
        if ids and len(ids) == len(result) and all(isinstance(value, int) for value in ids):
            return [value for value in ids if isinstance(value, int)]
    raise AmbiguousError(f"{name} answered ok without message ids; the messages may have been sent")
