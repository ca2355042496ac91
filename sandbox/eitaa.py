"""A fake of Eitaa's bot API (eitaayar.ir), `/<platform>/api/<token>/<method>`.

Methods: `getMe`, `sendMessage` (`chat_id`, `text`, `title`, `notification_disable`, `pin`…; only
channels and supergroups) and `sendFile` (multipart `file`, `caption`). Answers use the
`{"ok": true, "result": …}` envelope that eitaayar's clients read. Eitaa documents no error format;
this fake answers errors in the Telegram-style `{"ok": false, "error_code", "description"}` shape
(and a 429 with `parameters.retry_after` plus a `Retry-After` header), which is an assumption.
"""

from __future__ import annotations

import re
import time
import zlib
from itertools import count
from typing import Any, ClassVar

from aiohttp import web

from sandbox.server import Fake, Sandbox, register_fake

TOKEN = re.compile(r"^[A-Za-z0-9_:.-]{10,}$")
TEXT_LIMIT = 4096
Json = dict[str, Any]


class EitaaError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@register_fake
class EitaaFake(Fake):
    platform: ClassVar[str] = "eitaa"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.message_ids: dict[str, count[int]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/api/{token}/{method}", self.dispatch)]

    def error_response(self, status: int, message: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": status, "description": message}, status=status)

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        retry_after = max(1, round(reset_seconds))
        body = {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        }
        return web.json_response(body, status=429, headers={"Retry-After": str(retry_after)})

    async def dispatch(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN.match(token):
            return self.error_response(401, "Unauthorized: invalid token")
        methods = {"getMe": self.get_me, "sendMessage": self.send_message, "sendFile": self.send_file}
        method = methods.get(request.match_info["method"])
        if method is None:
            return self.error_response(404, "Not Found: method not found")
        params: Json = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                params.update(await request.post())
        try:
            result = method(token, params)
        except EitaaError as error:
            return self.error_response(error.status, error.description)
        return web.json_response({"ok": True, "result": result})

    def get_me(self, token: str, params: Json) -> Json:
        bot_id = zlib.crc32(token.encode()) % 10_000_000
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Hamafza sandbox",
            "username": f"hamafza_{bot_id}_bot",
        }

    def send_message(self, token: str, params: Json) -> Json:
        chat = self._chat(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise EitaaError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise EitaaError(400, "Bad Request: message is too long")
        return self._commit(token, chat, text, [])

    def send_file(self, token: str, params: Json) -> Json:
        chat = self._chat(params)
        upload = params.get("file")
        if not isinstance(upload, web.FileField):
            raise EitaaError(400, "Bad Request: there is no file in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise EitaaError(400, "Bad Request: message caption is too long")
        return self._commit(token, chat, caption, [f"upload:{upload.filename}"])

    def _chat(self, params: Json) -> str:
        chat = str(params.get("chat_id") or "")
        if not chat:
            raise EitaaError(400, "Bad Request: chat_id is empty")
        if chat.lower().startswith("notadmin"):
            raise EitaaError(403, "Forbidden: bot is not an admin of the channel")
        return chat

    def _commit(self, token: str, chat: str, text: str, media: list[str]) -> Json:
        message_id = next(self.message_ids.setdefault(chat, count(1)))
        self.record(
            account=str(zlib.crc32(token.encode()) % 10_000_000),
            post_id=str(message_id),
            action="publish",
            text=text,
            url=f"https://eitaa.com/{chat}/{message_id}" if not chat.lstrip("-").isdigit() else None,
            chat=chat,
            media=media,
        )
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "channel"},
            "text": text,
        }
