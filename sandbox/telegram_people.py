"""The people's side of the fake Bot API: a person posting or editing in a channel (the admin bots
get `channel_post` / `edited_channel_post`), pressing an inline button (`callback_query`, acknowledged
with `answerCallbackQuery`), and the files of their posts (`getFile`, file downloads). Mixed into
`sandbox.telegram.TelegramFake`."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from itertools import count
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.bot_params import TOKEN, BotApiError, photo_sizes, required
from sandbox.bot_updates import BotUpdates

Json = dict[str, Any]


class PeopleSide:
    if TYPE_CHECKING:  # what TelegramFake, which mixes this in, holds
        messages: dict[int, dict[int, Json]]
        admins: dict[int, set[str]]
        updates: BotUpdates
        media_groups: count[int]
        senders: dict[tuple[int, int], str]
        answers: list[Json]
        presses: count[int]
        files: dict[str, tuple[bytes, str]]
        file_ids: count[int]

        def resolve_chat(self, ref: str, *, for_sending: bool) -> Json: ...
        def commit(self, bot_id: str, chat: Json, fields: Json, *, flood: bool = True) -> Json: ...
        def record_group(
            self,
            bot_id: str,
            chat_ref: str,
            chat: Json,
            messages: list[Json],
            action: str,
            source_chat: str | None = None,
            source_id: int | None = None,
        ) -> None: ...

    def answer_callback_query(self, bot_id: str, params: Mapping[str, Any]) -> bool:
        query_id = required(
            params,
            "callback_query_id",
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )
        self.answers.append(
            {"bot": bot_id, "callback_query_id": str(query_id), "text": str(params.get("text") or "")}
        )
        return True

    def get_file(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        file_id = str(required(params, "file_id", "Bad Request: invalid file_id"))
        stored = self.files.get(file_id)
        if stored is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(stored[0]),
            "file_path": f"photos/{file_id}.jpg",
        }

    async def file_download(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN.match(token):
            return web.Response(status=404)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        stored = self.files.get(file_id)
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored[0], content_type=stored[1])

    def _keep_file(self, data: bytes, content_type: str) -> str:
        file_id = f"AgAC{next(self.file_ids):06d}"
        self.files[file_id] = (data, content_type)
        return file_id

    async def channel_post(self, request: web.Request) -> web.Response:
        """A person (not a bot) posts in a channel; its admin bots get `channel_post` updates."""
        body = await request.json()
        chat = self.resolve_chat(str(body["chat"]), for_sending=False)
        admins = self.admins.setdefault(chat["id"], set())
        admins.update(str(bot) for bot in body.get("admins", []))
        photos = [base64.b64decode(photo) for photo in body.get("photos", [])]
        text = str(body.get("text") or "")
        group = str(next(self.media_groups)) if len(photos) > 1 else None
        contents: list[Json] = [{"text": text}] if not photos else []
        for index, data in enumerate(photos):
            fields: Json = {"photo": photo_sizes(self._keep_file(data, "image/jpeg"))}
            if index == 0 and text:
                fields["caption"] = text
            if group:
                fields["media_group_id"] = group
            contents.append(fields)
        messages = []
        for fields in contents:
            message = self.commit("person", chat, fields, flood=False)
            messages.append(message)
            for admin in sorted(admins):
                self.updates.push(admin, "channel_post", message)
        self.record_group("person", str(body["chat"]), chat, messages, "channel")
        return web.json_response({"ok": True, "message_ids": [m["message_id"] for m in messages]})

    async def edit_channel_post(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat = self.resolve_chat(str(body["chat"]), for_sending=False)
        message = self.messages.get(chat["id"], {}).get(int(body["message_id"]))
        if message is None:
            return web.json_response({"ok": False, "description": "no such message"}, status=404)
        key = "caption" if "caption" in message or "photo" in message else "text"
        message[key] = str(body["text"])
        message["edit_date"] = int(time.time())
        for admin in sorted(self.admins.get(chat["id"], set())):
            self.updates.push(admin, "edited_channel_post", message)
        return web.json_response({"ok": True})

    async def press_button(self, request: web.Request) -> web.Response:
        """A person presses an inline button under a message a bot sent them."""
        body = await request.json()
        chat_id, message_id = int(body["chat_id"]), int(body["message_id"])
        message = self.messages.get(chat_id, {}).get(message_id)
        bot_id = self.senders.get((chat_id, message_id))
        if message is None or bot_id is None:
            return web.json_response({"ok": False, "description": "no such message"}, status=404)
        user_id = int(body.get("user_id", chat_id))
        if "as_chat_id" in body:
            # A press that claims another chat: what a forged or misrouted update looks like.
            message = {**message, "chat": {"id": int(body["as_chat_id"]), "type": "private"}}
        query = {
            "id": str(next(self.presses)),
            "from": {"id": user_id, "is_bot": False, "first_name": "Approver"},
            "message": message,
            "chat_instance": str(chat_id),
            "data": str(body["data"]),
        }
        update = self.updates.push(bot_id, "callback_query", query)
        return web.json_response({"ok": True, "update_id": update["update_id"], "bot": bot_id})
