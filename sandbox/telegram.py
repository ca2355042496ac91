"""A fake of the Telegram Bot API, and of Bale's Telegram-compatible copy of it.

Calls arrive as `/<platform>/bot<token>/<method>` with a JSON, urlencoded or multipart body (the
python-telegram-bot client sends urlencoded forms, with nested objects as JSON strings). Answers
use the Bot API envelope: `{"ok": true, "result": …}` or
`{"ok": false, "error_code": …, "description": …, "parameters"?: …}`.

A chat is any `@username` or number. Two kinds of username stand for real-world setup mistakes:
`@notmember…` answers 403 as a channel the bot was never added to, and `@migrated…` answers 400 with
`migrate_to_chat_id`, as a group that became a supergroup.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections import deque
from collections.abc import Mapping
from itertools import count
from typing import Any, ClassVar

from aiohttp import web

from sandbox.server import Fake, Sandbox, register_fake

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
FLOOD_WINDOW_SECONDS = 60.0

Json = dict[str, Any]


class BotApiError(Exception):
    """An error answer, raised from deep inside a method and shaped at the top."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@register_fake
class TelegramFake(Fake):
    platform = "telegram"
    post_url_base: ClassVar[str] = "https://t.me"
    chat_not_found: ClassVar[str] = "Bad Request: chat not found"
    not_member: ClassVar[str] = "Forbidden: bot is not a member of the channel chat"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        # Telegram allows about 20 messages a minute in one chat; None turns the limit off.
        self.flood_limit_per_minute: int | None = 20
        self.messages: dict[int, dict[int, Json]] = {}
        self.message_ids: dict[int, count[int]] = {}
        self.usernames: dict[int, str] = {}
        self.sent_at: dict[int, deque[float]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/bot{token}/{method}", self.dispatch)]

    # --- envelope --------------------------------------------------------------------------------

    def error_response(self, status: int, message: str, parameters: Json | None = None) -> web.Response:
        body: Json = {"ok": False, "error_code": status, "description": message}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    def rate_limit_description(self, retry_after: int) -> str:
        return f"Too Many Requests: retry after {retry_after}"

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        # The Bot API speaks whole seconds; rounding down to 0 would tell clients not to wait at all.
        retry_after = max(1, round(reset_seconds))
        return self.error_response(
            429, self.rate_limit_description(retry_after), {"retry_after": retry_after}
        )

    async def dispatch(self, request: web.Request) -> web.Response:
        match = TOKEN.match(request.match_info["token"])
        if match is None:
            return self.error_response(401, "Unauthorized")
        methods = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "forwardMessage": self.forward_message,
            "getChat": self.get_chat,
            "getChatMemberCount": self.get_chat_member_count,
        }
        method = methods.get(request.match_info["method"])
        if method is None:
            return self.error_response(404, "Not Found")
        try:
            params = await read_params(request)
            result = method(match.group(1), params)
        except BotApiError as error:
            return self.error_response(error.status, error.description, error.parameters)
        return web.json_response({"ok": True, "result": result})

    # --- methods ---------------------------------------------------------------------------------

    def get_me(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        return {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": "Hamafza sandbox bot",
            "username": f"hamafza_{bot_id}_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def send_message(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        text = str(params.get("text") or "")
        if not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise BotApiError(400, "Bad Request: message is too long")
        chat = self.resolve_chat(chat_ref, for_sending=True)
        message = self.commit(chat, {"text": text})
        self.record(
            account=bot_id,
            post_id=str(message["message_id"]),
            action="publish",
            text=text,
            url=self.post_url(chat, message["message_id"]),
            chat=chat_ref,
        )
        return message

    def send_photo(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        photo = params.get("photo")
        if isinstance(photo, web.FileField):
            photo_ref = f"upload:{photo.filename}"
        elif isinstance(photo, str) and photo:
            photo_ref = photo
        else:
            raise BotApiError(400, "Bad Request: there is no photo in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > CAPTION_LIMIT:
            raise BotApiError(400, "Bad Request: message caption is too long")
        chat = self.resolve_chat(chat_ref, for_sending=True)
        fields: Json = {"photo": photo_sizes(photo_ref)}
        if caption:
            fields["caption"] = caption
        message = self.commit(chat, fields)
        self.record(
            account=bot_id,
            post_id=str(message["message_id"]),
            action="publish",
            text=caption,
            url=self.post_url(chat, message["message_id"]),
            chat=chat_ref,
            media=[photo_ref],
        )
        return message

    def forward_message(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        from_ref = required(params, "from_chat_id", "chat_id is empty")
        message_id = int_param(params, "message_id", "message identifier is not specified")
        source_chat = self.resolve_chat(from_ref, for_sending=False)
        source = self.messages.get(source_chat["id"], {}).get(message_id)
        if source is None:
            raise BotApiError(400, "Bad Request: message to forward not found")
        chat = self.resolve_chat(chat_ref, for_sending=True)
        copied: Json = {key: source[key] for key in ("text", "caption", "photo") if key in source}
        copied["forward_origin"] = {
            "type": "channel",
            "chat": source_chat,
            "message_id": message_id,
            "date": source["date"],
        }
        message = self.commit(chat, copied)
        self.record(
            account=bot_id,
            post_id=str(message["message_id"]),
            action="forward",
            text=str(source.get("text") or source.get("caption") or ""),
            url=self.post_url(chat, message["message_id"]),
            chat=chat_ref,
            source_post_id=str(message_id),
            source_chat=from_ref,
            media=[photo["file_id"] for photo in source.get("photo", [])[:1]],
        )
        return message

    def get_chat(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat = self.resolve_chat(required(params, "chat_id", "chat_id is empty"), for_sending=False)
        return {
            **chat,
            "accent_color_id": chat["id"] % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def get_chat_member_count(self, bot_id: str, params: Mapping[str, Any]) -> int:
        chat = self.resolve_chat(required(params, "chat_id", "chat_id is empty"), for_sending=False)
        # Stable per chat, so that reach figures computed from it are reproducible.
        return 1_000 + zlib.crc32(str(chat["id"]).encode()) % 250_000

    # --- chats and messages ----------------------------------------------------------------------

    def resolve_chat(self, ref: str, *, for_sending: bool) -> Json:
        if ref.startswith("@") and len(ref) > 1:
            username = ref[1:]
            # A username maps to the same id every time, as a real channel's does.
            chat_id = -1_000_000_000_000 - zlib.crc32(username.lower().encode())
            self.usernames[chat_id] = username
        elif re.fullmatch(r"-?\d+", ref):
            chat_id = int(ref)
            username = self.usernames.get(chat_id, "")
        else:
            raise BotApiError(400, self.chat_not_found)
        if for_sending and username.lower().startswith("notmember"):
            raise BotApiError(403, self.not_member)
        if username.lower().startswith("migrated"):
            raise BotApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat_id - 1},
            )
        chat: Json = {"id": chat_id, "type": "channel", "title": username or f"Channel {chat_id}"}
        if username:
            chat["username"] = username
        return chat

    def commit(self, chat: Json, fields: Json) -> Json:
        self.check_flood(chat["id"])
        ids = self.message_ids.setdefault(chat["id"], count(1))
        message: Json = {
            "message_id": next(ids),
            "date": int(time.time()),
            "chat": chat,
            "sender_chat": chat,
            **fields,
        }
        self.messages.setdefault(chat["id"], {})[message["message_id"]] = message
        return message

    def check_flood(self, chat_id: int) -> None:
        if self.flood_limit_per_minute is None:
            return
        now = time.monotonic()
        window = self.sent_at.setdefault(chat_id, deque())
        while window and now - window[0] >= FLOOD_WINDOW_SECONDS:
            window.popleft()
        if len(window) >= self.flood_limit_per_minute:
            retry_after = max(1, int(FLOOD_WINDOW_SECONDS - (now - window[0])) + 1)
            raise BotApiError(429, self.rate_limit_description(retry_after), {"retry_after": retry_after})
        window.append(now)

    def post_url(self, chat: Json, message_id: int) -> str | None:
        username = chat.get("username")
        return f"{self.post_url_base}/{username}/{message_id}" if username else None


@register_fake
class BaleFake(TelegramFake):
    """Bale answers in Telegram's envelope, with its own wording."""

    platform = "bale"
    post_url_base: ClassVar[str] = "https://ble.ir"
    chat_not_found: ClassVar[str] = "Bad Request: no such group or user"
    not_member: ClassVar[str] = "Forbidden: permission_denied"

    def rate_limit_description(self, retry_after: int) -> str:
        return "bot limit exceed"


async def read_params(request: web.Request) -> dict[str, Any]:
    """A method's parameters, whichever way the client sent them (query, JSON or form)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError as error:
            raise BotApiError(400, "Bad Request: can't parse JSON object") from error
        if not isinstance(body, dict):
            raise BotApiError(400, "Bad Request: parameters must be an object")
        params.update({key: stringify(value) for key, value in body.items()})
    elif request.can_read_body:
        form = await request.post()
        params.update(form)
    return params


def stringify(value: Any) -> Any:
    """JSON bodies carry numbers and objects; forms carry strings. Methods see the form shape."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def required(params: Mapping[str, Any], name: str, missing: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise BotApiError(400, f"Bad Request: {missing}")
    return str(value)


def int_param(params: Mapping[str, Any], name: str, missing: str) -> int:
    value = required(params, name, missing)
    try:
        return int(value)
    except ValueError as error:
        raise BotApiError(400, f"Bad Request: {missing}") from error


def photo_sizes(photo_ref: str) -> list[Json]:
    """Telegram answers a photo with the sizes it made of it; file ids here keep the source URL."""
    unique = f"{zlib.crc32(photo_ref.encode()):08x}"
    return [
        {
            "file_id": photo_ref,
            "file_unique_id": f"{unique}s",
            "width": 320,
            "height": 180,
            "file_size": 9_000,
        },
        {
            "file_id": photo_ref,
            "file_unique_id": f"{unique}m",
            "width": 1280,
            "height": 720,
            "file_size": 90_000,
        },
    ]
