"""A fake of the Telegram Bot API and of a public channel's web preview; Bale's and Soroush+'s fakes
(sandbox/bale.py, sandbox/soroush.py) are this one with their documented differences.

Calls arrive as `/<platform>/bot<token>/<method>` with a JSON, urlencoded or multipart body. Answers
use the Bot API envelope: `{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description":
…, "parameters"?: …}`. Methods: getMe, sendMessage, sendPhoto/Video/Document (uploads or URLs),
sendMediaGroup (2–10, `attach://`), forwardMessage(s), copyMessage, getChat, the member count, and
getUpdates (long poll; a second concurrent reader of one bot gets 409). Bots that have posted into a
channel administer it and receive its new posts as `channel_post` updates.

`GET /telegram/s/<channel>[?before=id]` is the channel's public preview with each post's views.

A positive chat id is a person's private chat with the bot: messages there (approval requests, with an
`inline_keyboard`) are recorded with the action `message`, not as posts. `POST /telegram/_press` with
`{"chat_id", "message_id", "data", "user_id"}` is that person pressing a button: the bot that sent the
message gets a `callback_query` update, which it acknowledges with `answerCallbackQuery`.

`POST /telegram/_channel_post` with `{"chat": "@name", "admins": [bot ids], "text", "photos": [base64…]}`
is a person posting in a channel (several photos: an album sharing a `media_group_id`); the admin bots
get `channel_post` updates, and `getFile` + `GET /telegram/file/bot<token>/<path>` give the pictures
back. `POST /telegram/_edit_channel_post` edits one (`edited_channel_post`). `echo_own_posts` makes
the fake also send a bot its own posts, as some platforms do.

A chat is any `@username` or number. Two kinds of username stand for real-world setup mistakes:
`@notmember…` answers 403 as a channel the bot was never added to, and `@migrated…` answers 400 with
`migrate_to_chat_id`, as a group that became a supergroup.
"""

from __future__ import annotations

import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any, ClassVar

from aiohttp import web

from sandbox.bot_content import ContentMethods
from sandbox.bot_params import (
    TOKEN,
    BotApiError,
    json_param,
    media_refs,
    read_params,
    required,
)
from sandbox.bot_updates import BotUpdates, UpdateConflict
from sandbox.server import (
    MEASURED_ACTIONS,
    DemoAccounts,
    Fake,
    ReachFigures,
    Sandbox,
    delivery_records,
    register_fake,
)
from sandbox.telegram_page import PAGE_SIZE, channel_page, shown_value
from sandbox.telegram_people import PeopleSide

FLOOD_WINDOW_SECONDS = 60.0
CONTENT_KEYS = ("text", "caption", "photo", "video", "document", "media_group_id")

Json = dict[str, Any]
Method = Callable[[str, Mapping[str, Any]], Any]


@register_fake
class TelegramFake(ContentMethods, PeopleSide, Fake):
    platform = "telegram"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            agency: {"bot_token": f"{bot_id}:AA{name}DemoToken".ljust(36, "X"), "chat_id": chat}
            for agency, bot_id, name, chat in (
                ("khz-roads", 1001, "roads", "@khz_roads"),
                ("khz-rail", 1002, "rail", "@south_rail"),
                ("khz-ports", 1003, "ports", "@khz_ports"),
                ("qom-governorate", 1101, "qomGov", "@qom_ostandari"),
                ("qom-municipality", 1102, "qomCity", "@qom_city"),
                ("qom-red-crescent", 1103, "qomRcs", "@qom_helal"),
            )
        },
        amplify={"khz-transport-week": "forward", "qom-pilgrims": "forward"},
        serves_web_pages=True,
    )
    post_url_base: ClassVar[str] = "https://t.me"
    chat_not_found: ClassVar[str] = "Bad Request: chat not found"
    not_member: ClassVar[str] = "Forbidden: bot is not a member of the channel chat"
    text_limit: ClassVar[int] = 4096
    caption_limit: ClassVar[int] = 1024
    # What the provider has; Bale and Soroush+ change these.
    member_count_method: ClassVar[str] = "getChatMemberCount"
    has_copy: ClassVar[bool] = True
    has_forward_many: ClassVar[bool] = True
    has_media_group: ClassVar[bool] = True
    has_public_preview: ClassVar[bool] = True
    channel_posts_in_updates: ClassVar[bool] = True
    bad_token: ClassVar[tuple[int, str]] = (401, "Unauthorized")

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        # Telegram allows about 20 messages a minute in one chat; None turns the limit off.
        self.flood_limit_per_minute: int | None = 20
        self.messages: dict[int, dict[int, Json]] = {}
        self.message_ids: dict[int, count[int]] = {}
        self.usernames: dict[int, str] = {}
        self.sent_at: dict[int, deque[float]] = {}
        self.admins: dict[int, set[str]] = {}
        self.views: dict[tuple[int, int], int] = {}
        self.updates = BotUpdates()
        self.media_groups = count(13_000_000_000)
        self.senders: dict[tuple[int, int], str] = {}  # (chat, message) → the bot that sent it
        self.answers: list[Json] = []  # answerCallbackQuery calls, for tests to read
        self.presses = count(7_000_000)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.file_ids = count(1)
        self.echo_own_posts = False

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.route("*", "/bot{token}/{method}", self.dispatch),
            web.post("/_press", self.press_button),
            web.post("/_channel_post", self.channel_post),
            web.post("/_edit_channel_post", self.edit_channel_post),
            web.get("/file/bot{token}/{path:.+}", self.file_download),
        ]
        if self.has_public_preview:
            routes.append(web.get("/s/{channel}", self.preview_page))
        return routes

    def methods(self) -> dict[str, Method]:
        table: dict[str, Method] = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "sendPhoto": lambda bot, params: self.send_file(bot, params, "photo"),
            "sendVideo": lambda bot, params: self.send_file(bot, params, "video"),
            "sendDocument": lambda bot, params: self.send_file(bot, params, "document"),
            "forwardMessage": self.forward_message,
            "getChat": self.get_chat,
            "answerCallbackQuery": self.answer_callback_query,
            "getFile": self.get_file,
            self.member_count_method: self.get_chat_member_count,
        }
        if self.has_media_group:
            table["sendMediaGroup"] = self.send_media_group
        if self.has_forward_many:
            table["forwardMessages"] = self.forward_messages
        if self.has_copy:
            table["copyMessage"] = self.copy_message
        return table

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
            429, self.rate_limit_description(retry_after), self.rate_limit_parameters(retry_after)
        )

    async def dispatch(self, request: web.Request) -> web.Response:
        match = TOKEN.match(request.match_info["token"])
        if match is None:
            return self.error_response(*self.bad_token)
        bot_id = match.group(1)
        name = request.match_info["method"]
        try:
            params = await read_params(request)
            if name == "getUpdates":
                result: Any = await self.get_updates(bot_id, params)
            else:
                method = self.methods().get(name)
                if method is None:
                    return self.error_response(404, "Not Found")
                result = method(bot_id, params)
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
        if len(text) > self.text_limit:
            raise BotApiError(400, "Bad Request: message is too long")
        chat = self.resolve_chat(chat_ref, for_sending=True)
        fields: Json = {"text": text}
        markup = json_param(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        if markup is not None:
            if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
                raise BotApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            fields["reply_markup"] = markup
        message = self.commit(bot_id, chat, fields)
        self.senders[(chat["id"], message["message_id"])] = bot_id
        action = "message" if chat["type"] == "private" else "publish"
        self.record_message(bot_id, chat_ref, chat, message, action)
        return message

    def get_chat(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat = self.resolve_chat(required(params, "chat_id", "chat_id is empty"), for_sending=False)
        return {**chat, "accent_color_id": chat["id"] % 7, "max_reaction_count": 11}

    def reach_figures(self) -> ReachFigures:
        """The members of the channel behind every post and, where the public preview shows them,
        the views of every own post (a forward is measured as its source) as the preview states them."""
        posts = delivery_records(self.sandbox.posts_on(self.platform))
        shown_views = 0
        if self.has_public_preview:
            for post in (post for post in posts if post.action in MEASURED_ACTIONS):
                chat = self.resolve_chat(str(post.chat), for_sending=False)
                shown_views += shown_value(self.views.get((chat["id"], int(post.post_id)), 0))
        return ReachFigures(
            impressions=shown_views,
            potential_reach=sum(self.get_chat_member_count("0", {"chat_id": post.chat}) for post in posts),
        )

    def get_chat_member_count(self, bot_id: str, params: Mapping[str, Any]) -> int:
        chat = self.resolve_chat(required(params, "chat_id", "chat_id is empty"), for_sending=False)
        # Stable per chat, so that reach figures computed from it are reproducible.
        return 1_000 + zlib.crc32(str(chat["id"]).encode()) % 250_000

    async def get_updates(self, bot_id: str, params: Mapping[str, Any]) -> list[Json]:
        offset = params.get("offset")
        allowed = json_param(params, "allowed_updates", "can't parse allowed updates")
        try:
            return await self.updates.read(
                bot_id,
                offset=int(offset) if offset not in (None, "") else None,
                timeout=min(50.0, float(params.get("timeout") or 0)),
                limit=int(params.get("limit") or 100),
                allowed_updates=allowed if isinstance(allowed, list) else None,
            )
        except UpdateConflict as conflict:
            raise BotApiError(409, str(conflict)) from None
        except ValueError:
            raise BotApiError(400, "Bad Request: wrong parameter value") from None

    # --- the public preview ----------------------------------------------------------------------

    async def preview_page(self, request: web.Request) -> web.Response:
        username = request.match_info["channel"]
        chat_id = self.chat_id_of(username)
        before = request.query.get("before", "")
        history = sorted(self.messages.get(chat_id, {}).items())
        if before.isdigit():
            history = [(number, message) for number, message in history if number < int(before)]
        shown = [(message, self.views.get((chat_id, number), 0)) for number, message in history[-PAGE_SIZE:]]
        return web.Response(text=channel_page(username, username, shown), content_type="text/html")

    # --- chats and messages ----------------------------------------------------------------------

    @staticmethod
    def chat_id_of(username: str) -> int:
        # A username maps to the same id every time, as a real channel's does.
        return -1_000_000_000_000 - zlib.crc32(username.lower().encode())

    def resolve_chat(self, ref: str, *, for_sending: bool) -> Json:
        if ref.startswith("@") and len(ref) > 1:
            username = ref[1:]
            chat_id = self.chat_id_of(username)
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
        if chat_id > 0:
            # A person's private chat with the bot.
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        chat: Json = {"id": chat_id, "type": "channel", "title": username or f"Channel {chat_id}"}
        if username:
            chat["username"] = username
        return chat

    def source_message(self, from_ref: str, message_id: int, missing: str) -> tuple[Json, Json]:
        source_chat = self.resolve_chat(from_ref, for_sending=False)
        source = self.messages.get(source_chat["id"], {}).get(message_id)
        if source is None:
            raise BotApiError(400, f"Bad Request: {missing}")
        return source_chat, source

    @staticmethod
    def forwarded(source_chat: Json, source: Json) -> Json:
        fields: Json = {key: source[key] for key in CONTENT_KEYS if key in source}
        fields["forward_origin"] = {
            "type": "channel",
            "chat": source_chat,
            "message_id": source["message_id"],
            "date": source["date"],
        }
        return fields

    def checked_caption(self, value: Any) -> str:
        caption = str(value or "")
        if len(caption) > self.caption_limit:
            raise BotApiError(400, "Bad Request: message caption is too long")
        return caption

    def commit(self, bot_id: str, chat: Json, fields: Json, *, flood: bool = True) -> Json:
        if flood:
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
        # Views grow with the channel; stable per post, so tests can compare them.
        self.views[(chat["id"], message["message_id"])] = (
            100 + zlib.crc32(f"{chat['id']}/{message['message_id']}".encode()) % 40_000
        )
        admins = self.admins.setdefault(chat["id"], set())
        if self.channel_posts_in_updates and chat["type"] == "channel":
            readers = admins | {bot_id} if self.echo_own_posts else admins - {bot_id}
            for admin in sorted(readers):
                self.updates.push(admin, "channel_post", message)
        admins.add(bot_id)
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
            raise BotApiError(
                429, self.rate_limit_description(retry_after), self.rate_limit_parameters(retry_after)
            )
        window.append(now)

    def rate_limit_parameters(self, retry_after: int) -> Json | None:
        return {"retry_after": retry_after}

    def record_message(
        self,
        bot_id: str,
        chat_ref: str,
        chat: Json,
        message: Json,
        action: str,
        source_chat: str | None = None,
        source_id: int | None = None,
    ) -> None:
        self.record_group(bot_id, chat_ref, chat, [message], action, source_chat, source_id)

    def record_group(
        self,
        bot_id: str,
        chat_ref: str,
        chat: Json,
        messages: list[Json],
        action: str,
        source_chat: str | None = None,
        source_id: int | None = None,
    ) -> None:
        first = messages[0]
        text = next(
            (str(m.get("text") or m.get("caption")) for m in messages if m.get("text") or m.get("caption")),
            "",
        )
        self.record(
            account=bot_id,
            post_id=str(first["message_id"]),
            action=action,
            text=text,
            url=self.post_url(chat, first["message_id"]),
            chat=chat_ref,
            source_post_id=str(source_id) if source_id is not None else None,
            source_chat=source_chat,
            media=[ref for message in messages for ref in media_refs(message)],
            post_ids=[str(message["message_id"]) for message in messages] if len(messages) > 1 else [],
        )

    def post_url(self, chat: Json, message_id: int) -> str | None:
        username = chat.get("username")
        return f"{self.post_url_base}/{username}/{message_id}" if username else None
