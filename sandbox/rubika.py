"""A fake of Rubika's Bot API v3, `/<platform>/v3/<token>/<method>` (JSON POST), and its upload host.

Methods: `getMe`, `sendMessage`, `requestSendFile` (→ a one-time `upload_url` on this fake, for one
file type), the upload itself (multipart `file` → `file_id`), `sendFile` (`chat_id`, `file_id`,
`text`), `forwardMessage` (`from_chat_id`, `message_id`, `to_chat_id` → `new_message_id`),
`getChatMemberCount` and `getUpdates` (`offset_id`, `limit` → `updates`, `next_offset_id`).
Answers are `{"status": "OK", "data": …}`; refusals are HTTP 200 with `INVALID_ACCESS`,
`INVALID_INPUT` or `TOO_REQUESTS` and a `dev_message`, as the SDKs read them; a 5xx is a gateway
error. The `Retry-After` header on `TOO_REQUESTS` is an assumption (Rubika documents no reset).
Chat ids starting `c0notadmin` are channels the bot does not administer.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from sandbox.server import DemoAccounts, Fake, ReachFigures, Sandbox, delivery_records, register_fake

TOKEN = re.compile(r"^[A-Za-z0-9_:.-]{10,}$")
TEXT_LIMIT = 4096
UPLOAD_LIMITS = {"Image": 10 * 1024 * 1024, "Video": 50 * 1024 * 1024, "File": 50 * 1024 * 1024}
MEMBERS = 1_000
Json = dict[str, Any]


class RubikaError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Upload:
    type: str
    file_id: str | None = None
    filename: str = ""


@register_fake
class RubikaFake(Fake):
    platform: ClassVar[str] = "rubika"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "qom-governorate": {
                "bot_token": "DEMOQOMGOVRUBIKATOKEN0000000000",
                "chat_id": "c0QomOstandari0a1b2c3d4e5f6a7b8",
            },
            "qom-municipality": {
                "bot_token": "DEMOQOMCITYRUBIKATOKEN000000000",
                "chat_id": "c0QomShahrdari9f8e7d6c5b4a3928",
            },
            "qom-red-crescent": {
                "bot_token": "DEMOQOMRCSRUBIKATOKEN0000000000",
                "chat_id": "c0QomHelal00112233445566778899",
            },
        },
        amplify={"qom-pilgrims": "forward"},
    )

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.uploads: dict[str, Upload] = {}
        self.files: dict[str, Upload] = {}
        self.messages: dict[tuple[str, str], Json] = {}  # (chat, message id) → message
        self.senders: dict[tuple[str, str], str] = {}  # (chat, message id) → the bot token that sent it
        self.updates: list[Json] = []
        self.update_ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v3/{token}/{method}", self.dispatch),
            web.post("/upload/{upload_id}", self.upload),
            web.post("/_channel_post", self.person_posts_route),
            web.post("/_press", self.press_button),
        ]

    def person_posts(self, chat: str, text: str) -> str:
        """A person (not a bot) posts in a channel: its admin bots see it in `getUpdates`."""
        return self._commit("person", chat, text, [], "channel")

    async def person_posts_route(self, request: web.Request) -> web.Response:
        body = await request.json()
        message_id = self.person_posts(str(body["chat"]), str(body.get("text") or ""))
        return web.json_response({"status": "OK", "data": {"message_id": message_id}})

    def error_response(self, status: int, message: str) -> web.Response:
        if status >= 500:
            return web.json_response({"status": "SERVER_ERROR", "dev_message": message}, status=status)
        verdict = "INVALID_ACCESS" if status in {401, 403} else "INVALID_INPUT"
        return web.json_response({"status": verdict, "dev_message": message})

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        retry_after = max(1, round(reset_seconds))
        return web.json_response(
            {"status": "TOO_REQUESTS", "dev_message": "too many requests"},
            headers={"Retry-After": str(retry_after)},
        )

    async def dispatch(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN.match(token):
            return self.error_response(401, "invalid bot token")
        methods = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "requestSendFile": self.request_send_file,
            "sendFile": self.send_file,
            "forwardMessage": self.forward_message,
            "getChatMemberCount": self.get_chat_member_count,
            "getUpdates": self.get_updates,
        }
        method = methods.get(request.match_info["method"])
        if method is None:
            return self.error_response(400, "method not found")
        params = await self._params(request)
        if isinstance(params, web.Response):
            return params
        try:
            data = method(token, params, request)
        except RubikaError as error:
            return web.json_response({"status": error.status, "dev_message": error.message})
        return web.json_response({"status": "OK", "data": data})

    async def _params(self, request: web.Request) -> Json | web.Response:
        """The JSON object a method takes, or the refusal of a body that is not one."""
        if request.content_type != "application/json":
            return self.error_response(400, "the body must be JSON")
        try:
            params = await request.json()
        except ValueError:
            return self.error_response(400, "the body is not JSON")
        if not isinstance(params, dict):
            return self.error_response(400, "the body must be a JSON object")
        return params

    # --- methods ---------------------------------------------------------------------------------

    def get_me(self, token: str, params: Json, request: web.Request) -> Json:
        bot_id = f"b0{zlib.crc32(token.encode()):08x}"
        return {
            "bot": {"bot_id": bot_id, "bot_title": "Hamafza sandbox", "username": f"hamafza_{bot_id}_bot"}
        }

    def send_message(self, token: str, params: Json, request: web.Request) -> Json:
        chat = self._chat(params, "chat_id")
        text = self._text(params)
        if not text.strip():
            raise RubikaError("INVALID_INPUT", "text is empty")
        keypad = params.get("inline_keypad")
        if keypad is not None and not (isinstance(keypad, dict) and isinstance(keypad.get("rows"), list)):
            raise RubikaError("INVALID_INPUT", "inline_keypad must have rows")
        # A person's chat with the bot (`u0…`, `b0…`): a message, not a channel post.
        action = "message" if chat.startswith(("u0", "b0")) else "publish"
        message_id = self._commit(token, chat, text, [], action)
        if keypad is not None:
            self.messages[(chat, message_id)]["inline_keypad"] = keypad
            self.senders[(chat, message_id)] = token
        return {"message_id": message_id}

    async def press_button(self, request: web.Request) -> web.Response:
        """A person presses a keypad button under a bot's message: that bot's next updates show it."""
        body = await request.json()
        chat, message_id = str(body["chat_id"]), str(body["message_id"])
        token = self.senders.get((chat, message_id))
        if token is None:
            return web.json_response(
                {"status": "INVALID_INPUT", "dev_message": "no such message"}, status=404
            )
        self.updates.append(
            {
                "_id": next(self.update_ids),
                "_for": token,
                "type": "NewMessage",
                "chat_id": str(body.get("as_chat_id", chat)),
                "new_message": {
                    "message_id": str(self.next_id()),
                    "text": str(body.get("text") or ""),
                    "time": str(int(time.time())),
                    "sender_type": "User",
                    "sender_id": str(body.get("sender_id") or "u0Approver"),
                    "aux_data": {"button_id": str(body["button_id"])},
                },
            }
        )
        return web.json_response({"status": "OK"})

    def request_send_file(self, token: str, params: Json, request: web.Request) -> Json:
        kind = str(params.get("type") or "")
        if kind not in UPLOAD_LIMITS:
            raise RubikaError("INVALID_INPUT", f"type must be one of {sorted(UPLOAD_LIMITS)}")
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = Upload(type=kind)
        # The real upload host differs from the API host; this fake serves both.
        base = str(request.url.with_query(None)).split("/v3/", 1)[0]
        return {"upload_url": f"{base}/upload/{upload_id}"}

    async def upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.pop(request.match_info["upload_id"], None)
        if upload is None:
            return self.error_response(400, "upload url is unknown or used")
        form = await request.post()
        sent = form.get("file")
        if not isinstance(sent, web.FileField):
            return self.error_response(400, "there is no file in the request")
        size = len(sent.file.read())
        if size == 0 or size > UPLOAD_LIMITS[upload.type]:
            return self.error_response(400, f"file size {size} is not allowed for {upload.type}")
        file_id = uuid.uuid4().hex
        upload.file_id, upload.filename = file_id, sent.filename
        self.files[file_id] = upload
        return web.json_response({"status": "OK", "data": {"file_id": file_id}})

    def send_file(self, token: str, params: Json, request: web.Request) -> Json:
        chat = self._chat(params, "chat_id")
        upload = self.files.get(str(params.get("file_id") or ""))
        if upload is None:
            raise RubikaError("INVALID_INPUT", "file_id is not an uploaded file")
        text = self._text(params)
        media = [f"upload:{upload.type}:{upload.filename}"]
        return {"message_id": self._commit(token, chat, text, media, "publish")}

    def forward_message(self, token: str, params: Json, request: web.Request) -> Json:
        source_chat = self._chat(params, "from_chat_id", admin=False)
        target = self._chat(params, "to_chat_id")
        message_id = str(params.get("message_id") or "")
        original = self.messages.get((source_chat, message_id))
        if original is None:
            raise RubikaError("INVALID_INPUT", "message not found")
        new_id = self._commit(
            token,
            target,
            str(original["text"]),
            list(original["media"]),
            "forward",
            source=(source_chat, message_id),
        )
        return {"new_message_id": new_id}

    def reach_figures(self) -> ReachFigures:
        """Bots read no views here: only the members of the channel behind every post."""
        posts = delivery_records(self.sandbox.posts_on(self.platform))
        return ReachFigures(potential_reach=sum(self.members_of(str(post.chat)) for post in posts))

    @staticmethod
    def members_of(chat: str) -> int:
        return MEMBERS + zlib.crc32(chat.encode()) % 5_000

    def get_chat_member_count(self, token: str, params: Json, request: web.Request) -> Json:
        chat = self._chat(params, "chat_id")
        return {"member_count": self.members_of(chat)}

    def get_updates(self, token: str, params: Json, request: web.Request) -> Json:
        start = int(params["offset_id"]) if str(params.get("offset_id") or "").isdigit() else 0
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        page = [
            update
            for update in self.updates
            if int(update["_id"]) >= start and update.get("_for", token) == token  # presses: their bot only
        ][:limit]
        following = str(int(page[-1]["_id"]) + 1) if page else (str(start) if start else None)
        shown = [{key: value for key, value in update.items() if not key.startswith("_")} for update in page]
        return {"updates": shown, "next_offset_id": following}

    # --- state -----------------------------------------------------------------------------------

    def _chat(self, params: Json, key: str, *, admin: bool = True) -> str:
        chat = str(params.get(key) or "")
        if not chat:
            raise RubikaError("INVALID_INPUT", f"{key} is empty")
        if admin and chat.lower().startswith("c0notadmin"):
            raise RubikaError("INVALID_ACCESS", "bot is not an admin of the channel")
        return chat

    @staticmethod
    def _text(params: Json) -> str:
        text = str(params.get("text") or "")
        if len(text) > TEXT_LIMIT:
            raise RubikaError("INVALID_INPUT", "text is too long")
        return text

    def _commit(
        self,
        token: str,
        chat: str,
        text: str,
        media: list[str],
        action: str,
        source: tuple[str, str] | None = None,
    ) -> str:
        message_id = str(self.next_id())
        message = {"message_id": message_id, "text": text, "media": media, "time": str(int(time.time()))}
        self.messages[(chat, message_id)] = message
        self.record(
            account=f"b0{zlib.crc32(token.encode()):08x}",
            post_id=message_id,
            action=action,
            text=text,
            chat=chat,
            media=media,
            source_chat=source[0] if source else None,
            source_post_id=source[1] if source else None,
        )
        update_id = next(self.update_ids)
        self.updates.append(
            {
                "_id": update_id,
                "type": "NewMessage",
                "chat_id": chat,
                "new_message": {
                    "message_id": message_id,
                    "text": text,
                    "time": message["time"],
                    "sender_type": "User" if token == "person" else "Bot",
                    **(
                        {"forwarded_from": {"from_chat_id": source[0], "message_id": source[1]}}
                        if source
                        else {}
                    ),
                },
            }
        )
        return message_id
