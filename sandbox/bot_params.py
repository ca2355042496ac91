"""Reading a fake Bot API call's parameters, whichever way the client sent them, and its errors."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

Json = dict[str, Any]
# A bot token as the Bot API accepts it in a URL: `<bot id>:<secret>`.
TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


class BotApiError(Exception):
    """An error answer, raised from deep inside a method and shaped at the top."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


async def read_params(request: web.Request) -> dict[str, Any]:
    """A method's parameters from the query, a JSON body or a (multipart) form."""
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


def json_param(params: Mapping[str, Any], name: str, missing: str) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise BotApiError(400, f"Bad Request: {missing}") from error


def file_ref(value: Any, params: Mapping[str, Any], missing: str) -> str:
    """An uploaded file (`upload:<name>:<bytes>`), an `attach://<field>` of the same form, or a URL / file id."""
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if isinstance(value, web.FileField):
        size = len(value.file.read())
        value.file.seek(0)
        if size == 0:
            raise BotApiError(400, "Bad Request: file must be non-empty")
        return f"upload:{value.filename}:{size}"
    if isinstance(value, str) and value:
        return value
    raise BotApiError(400, f"Bad Request: {missing}")


def photo_sizes(photo_ref: str) -> list[Json]:
    """Telegram answers a photo with the sizes it made of it; file ids here keep the source."""
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


def file_object(kind: str, ref: str) -> Any:
    """The `photo` / `video` / `document` field of a message for a sent file."""
    if kind == "photo":
        return photo_sizes(ref)
    unique = f"{zlib.crc32(ref.encode()):08x}"
    return {"file_id": ref, "file_unique_id": unique, "file_size": 100_000}


def media_refs(message: Json) -> list[str]:
    """The file ids a message carries, whatever its kind."""
    if message.get("photo"):
        return [str(message["photo"][0]["file_id"])]
    for kind in ("video", "document"):
        if isinstance(message.get(kind), dict):
            return [str(message[kind]["file_id"])]
    return []
