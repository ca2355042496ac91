"""The content methods of the fake Bot API: sendPhoto/Video/Document, sendMediaGroup (albums of
2–10, `attach://`), forwardMessage(s) and copyMessage. Mixed into `sandbox.telegram.TelegramFake`."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import count
from typing import TYPE_CHECKING, Any

from sandbox.bot_params import BotApiError, file_object, file_ref, int_param, json_param, required

Json = dict[str, Any]


class ContentMethods:
    if TYPE_CHECKING:  # what TelegramFake, which mixes this in, holds
        media_groups: count[int]

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
        def record_message(
            self,
            bot_id: str,
            chat_ref: str,
            chat: Json,
            message: Json,
            action: str,
            source_chat: str | None = None,
            source_id: int | None = None,
        ) -> None: ...
        def checked_caption(self, value: Any) -> str: ...
        def check_flood(self, chat_id: int) -> None: ...
        def source_message(self, from_ref: str, message_id: int, missing: str) -> tuple[Json, Json]: ...
        @staticmethod
        def forwarded(source_chat: Json, source: Json) -> Json: ...

    def send_file(self, bot_id: str, params: Mapping[str, Any], kind: str) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        ref = file_ref(params.get(kind), params, f"there is no {kind} in the request")
        caption = self.checked_caption(params.get("caption"))
        chat = self.resolve_chat(chat_ref, for_sending=True)
        fields: Json = {kind: file_object(kind, ref)}
        if caption:
            fields["caption"] = caption
        message = self.commit(bot_id, chat, fields)
        self.record_message(bot_id, chat_ref, chat, message, "publish")
        return message

    def send_media_group(self, bot_id: str, params: Mapping[str, Any]) -> list[Json]:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        items = json_param(params, "media", "can't parse media JSON object")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise BotApiError(400, "Bad Request: media must include 2-10 items")
        parts: list[Json] = []
        for item in items:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in {"photo", "video", "document"}:
                raise BotApiError(400, "Bad Request: can't parse InputMedia: media type is invalid")
            ref = file_ref(item.get("media"), params, "wrong file identifier/HTTP URL specified")
            part: Json = {kind: file_object(kind, ref)}
            if caption := self.checked_caption(item.get("caption")):
                part["caption"] = caption
            parts.append(part)
        chat = self.resolve_chat(chat_ref, for_sending=True)
        group = str(next(self.media_groups))
        self.check_flood(chat["id"])
        messages = [
            self.commit(bot_id, chat, {**part, "media_group_id": group}, flood=False) for part in parts
        ]
        self.record_group(bot_id, chat_ref, chat, messages, "publish")
        return messages

    def forward_message(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        from_ref = required(params, "from_chat_id", "chat_id is empty")
        message_id = int_param(params, "message_id", "message identifier is not specified")
        source_chat, source = self.source_message(from_ref, message_id, "message to forward not found")
        chat = self.resolve_chat(chat_ref, for_sending=True)
        message = self.commit(bot_id, chat, self.forwarded(source_chat, source))
        self.record_message(bot_id, chat_ref, chat, message, "forward", from_ref, message_id)
        return message

    def forward_messages(self, bot_id: str, params: Mapping[str, Any]) -> list[Json]:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        from_ref = required(params, "from_chat_id", "chat_id is empty")
        ids = json_param(params, "message_ids", "message identifiers are not specified")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or not all(isinstance(i, int) for i in ids):
            raise BotApiError(400, "Bad Request: message identifiers are not specified")
        sources = [self.source_message(from_ref, i, "messages to forward not found") for i in ids]
        chat = self.resolve_chat(chat_ref, for_sending=True)
        self.check_flood(chat["id"])
        messages = [self.commit(bot_id, chat, self.forwarded(*pair), flood=False) for pair in sources]
        self.record_group(bot_id, chat_ref, chat, messages, "forward", from_ref, ids[0])
        return [{"message_id": message["message_id"]} for message in messages]

    def copy_message(self, bot_id: str, params: Mapping[str, Any]) -> Json:
        chat_ref = required(params, "chat_id", "chat_id is empty")
        from_ref = required(params, "from_chat_id", "chat_id is empty")
        message_id = int_param(params, "message_id", "message identifier is not specified")
        _, source = self.source_message(from_ref, message_id, "message to copy not found")
        fields: Json = {
            key: source[key] for key in ("text", "caption", "photo", "video", "document") if key in source
        }
        if "caption" in params and "text" not in source:
            fields["caption"] = self.checked_caption(params.get("caption"))
        chat = self.resolve_chat(chat_ref, for_sending=True)
        message = self.commit(bot_id, chat, fields)
        self.record_message(bot_id, chat_ref, chat, message, "copy", from_ref, message_id)
        return {"message_id": message["message_id"]}
