"""A fake of Eitaa's bot API (eitaayar.ir), `/<platform>/api/<token>/<method>`, and of its public
channel pages (eitaa.com), `/<platform>/<channel>`.

Methods: `getMe`, `sendMessage` (`chat_id`, `text`, `title`, `notification_disable`, `pin`…; only
channels and supergroups) and `sendFile` (multipart `file`, `caption`). Answers use the
`{"ok": true, "result": …}` envelope that eitaayar's clients read. Eitaa documents no error format;
this fake answers errors in the Telegram-style `{"ok": false, "error_code", "description"}` shape
(and a 429 with `parameters.retry_after` plus a `Retry-After` header), which is an assumption.

The public page is HTML in eitaa.com's markup (`etme_…` classes, as open-source readers of it parse):
the channel's member count and its latest 20 messages with text and view counter, in Persian
digits and abbreviated as the site shows them (`۱۲٫۴ هزار`). A channel nobody posted to is a 404;
`members` and each message's `views` can be set by tests.
"""

from __future__ import annotations

import html
import re
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from typing import Any, ClassVar

from aiohttp import web

from sandbox.server import MEASURED_ACTIONS, DemoAccounts, Fake, ReachFigures, Sandbox, register_fake

TOKEN = re.compile(r"^[A-Za-z0-9_:.-]{10,}$")
TEXT_LIMIT = 4096
PAGE_MESSAGES = 20
Json = dict[str, Any]
_PERSIAN = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")
_LINK = re.compile(r"(https?://[^\s<]+)")


@dataclass
class ChannelMessage:
    message_id: int
    text: str
    views: int
    at: float
    photo: bool = False


class EitaaError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@register_fake
class EitaaFake(Fake):
    platform: ClassVar[str] = "eitaa"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "qom-governorate": {"token": "demo-qom-gov-eitaa-token", "chat_id": "@ostandari_qom"},
            "qom-municipality": {"token": "demo-qom-city-eitaa-token", "chat_id": "@qom_city"},
            "qom-red-crescent": {"token": "demo-qom-rcs-eitaa-token", "chat_id": "@qom_helal"},
        },
        amplify={"qom-pilgrims": "copy"},
        serves_web_pages=True,  # public pages: {web_base}/<channel>
        channels={"qom-governorate": "ostandari_qom"},  # the governorate publishes from its channel
    )

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.message_ids: dict[str, count[int]] = {}
        self.channels: dict[str, list[ChannelMessage]] = {}
        self.members: dict[str, int] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/api/{token}/{method}", self.dispatch),
            web.post("/_channel_post", self.person_posts_route),
            web.get("/{channel}", self.channel_page),
        ]

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
        content = upload.file.read()
        if not content:
            raise EitaaError(400, "Bad Request: the file is empty")
        return self._commit(token, chat, caption, [f"upload:{upload.content_type}:{upload.filename}"])

    def _chat(self, params: Json) -> str:
        chat = str(params.get("chat_id") or "")
        if not chat:
            raise EitaaError(400, "Bad Request: chat_id is empty")
        if chat.lower().startswith("notadmin"):
            raise EitaaError(403, "Forbidden: bot is not an admin of the channel")
        return chat

    def person_posts(self, chat: str, text: str) -> str:
        """A person (not the bot) posts in a channel: it shows on the public page, as on eitaa.com."""
        message = self._commit("person", chat.lstrip("@"), text, [], action="channel")
        return str(message["message_id"])

    async def person_posts_route(self, request: web.Request) -> web.Response:
        body = await request.json()
        message_id = self.person_posts(str(body["chat"]), str(body.get("text") or ""))
        return web.json_response({"ok": True, "message_id": int(message_id)})

    def _commit(self, token: str, chat: str, text: str, media: list[str], action: str = "publish") -> Json:
        message_id = next(self.message_ids.setdefault(chat, count(1)))
        # A first count that differs by channel and message, as real counters do; tests may set it.
        views = 40 + zlib.crc32(f"{chat}/{message_id}".encode()) % 900
        self.channels.setdefault(chat, []).append(
            ChannelMessage(message_id, text, views, time.time(), photo=bool(media))
        )
        self.members.setdefault(chat, 1_000 + zlib.crc32(chat.encode()) % 90 * 100)
        self.record(
            account=str(zlib.crc32(token.encode()) % 10_000_000),
            post_id=str(message_id),
            action=action,
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

    def reach_figures(self) -> ReachFigures:
        """What the public pages show, as shown (rounded): the views of every own post, and the
        channel's members behind every post."""
        views = members = 0
        for post in self.sandbox.posts_on(self.platform):
            chat = str(post.chat)
            members += shown_value(self.members.get(chat, 0))
            if post.action in MEASURED_ACTIONS:
                message = next(m for m in self.channels[chat] if str(m.message_id) == post.post_id)
                views += shown_value(message.views)
        return ReachFigures(impressions=views, potential_reach=members)

    # --- the public channel page (eitaa.com/<channel>) ------------------------------------------

    async def channel_page(self, request: web.Request) -> web.Response:
        chat = request.match_info["channel"]
        if chat not in self.channels:
            return web.Response(
                status=404, text="<html><body>کانال یافت نشد</body></html>", content_type="text/html"
            )
        messages = self.channels[chat][-PAGE_MESSAGES:]
        body = "\n".join(self._message_html(chat, message) for message in messages)
        page = f"""<!DOCTYPE html>
<html lang="fa" dir="rtl"><head><meta charset="utf-8"><title>ایتا | {html.escape(chat)}</title></head>
<body class="etme_body">
<div class="etme_channel_info">
  <div class="etme_channel_info_header">
    <i class="etme_page_photo_image"><img src="/{html.escape(chat)}/photo.jpg"></i>
    <div class="etme_channel_info_header_title"><span dir="auto">{html.escape(chat)}</span></div>
    <div class="etme_channel_info_header_username"><a href="/{html.escape(chat)}">@{html.escape(chat)}</a></div>
  </div>
  <div class="etme_channel_info_counters">
    <div class="etme_channel_info_counter"><span class="counter_value">{_shown(self.members[chat])}</span> \
<span class="counter_type">عضو</span></div>
  </div>
  <div class="etme_channel_info_description">کانال رسمی</div>
</div>
<section class="etme_channel_history">
{body}
</section>
</body></html>"""
        return web.Response(text=page, content_type="text/html")

    @staticmethod
    def _message_html(chat: str, message: ChannelMessage) -> str:
        lines = [
            _LINK.sub(r'<a href="\1" target="_blank">\1</a>', html.escape(line))
            for line in message.text.split("\n")
        ]
        stamp = datetime.fromtimestamp(message.at, tz=UTC)
        photo = (
            f'<a class="etme_widget_message_photo_wrap" href="/{chat}/{message.message_id}" '
            f"style=\"background-image:url('/download_{message.message_id}.jpg')\"></a>"
            if message.photo
            else ""
        )
        return f"""<div class="etme_widget_message_wrap js-widget_message_wrap" id="{message.message_id}">
  <div class="etme_widget_message js-widget_message" data-post="{chat}/{message.message_id}">
    <div class="etme_widget_message_bubble">
      {photo}
      <div class="etme_widget_message_text js-message_text" dir="auto">{"<br/>".join(lines)}</div>
      <div class="etme_widget_message_footer"><div class="etme_widget_message_info">
        <span class="etme_widget_message_views">{_shown(message.views)}</span>
        <span class="etme_widget_message_meta"><a class="etme_widget_message_date" href="/{chat}/{message.message_id}">\
<time datetime="{stamp.isoformat()}">{stamp:%H:%M}</time></a></span>
      </div></div>
    </div>
  </div>
</div>"""


def shown_value(number: int) -> int:
    """The number a reader of the page gets back from `_shown` ("۱٫۲ هزار" → 1200)."""
    return number if number < 1000 else round(float(f"{number / 1000:.1f}") * 1000)


def _shown(number: int) -> str:
    """A counter as eitaa.com shows it: Persian digits, thousands as `هزار` with one decimal."""
    if number < 1000:
        return str(number).translate(_PERSIAN)
    thousands = f"{number / 1000:.1f}".removesuffix(".0")
    return f"{thousands.translate(_PERSIAN)} هزار"
