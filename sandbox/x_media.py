"""X's v2 media upload, as the X fake serves it (docs.x.com, "Media upload", 2025–2026).

- `POST /2/media/upload` (multipart `media`, `media_category`, optional `media_type`): one image in
  one request → `{"data": {"id", "media_key", "size", "expires_after_secs", "image": {"image_type"}}}`.
- `POST /2/media/upload/initialize` (JSON `media_type`, `total_bytes`, `media_category`) →
  `{"data": {"id", "media_key", "expires_after_secs"}}`; then `POST /2/media/upload/{id}/append`
  (multipart `media`, `segment_index` 0–999, each at most 5 MB) and `POST /2/media/upload/{id}/finalize`,
  which for video answers `processing_info: {"state": "pending", "check_after_secs"}`; then
  `GET /2/media/upload?command=STATUS&media_id=…` until `succeeded` (or `failed`, with an `error`).
- `POST /2/media/metadata` (JSON `{"id", "metadata": {"alt_text": {"text"}}}`): alt text, ≤ 1000.
Limits: images 5 MB, GIFs 15 MB, video 512 MB; a tweet takes up to 4 images, or one GIF or video.
Types are read from the bytes, as X does. `fail_processing` makes the next video fail processing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from sandbox.x_problems import XProblem, invalid, json_response

IMAGE_BYTES = 5 * 1024 * 1024
GIF_BYTES = 15 * 1024 * 1024
VIDEO_BYTES = 512 * 1024 * 1024
SEGMENT_BYTES = 5 * 1024 * 1024
EXPIRES_SECONDS = 86_400
ALT_TEXT_LIMIT = 1000
KEY_PREFIX = {"tweet_image": "3", "tweet_gif": "16", "tweet_video": "7", "amplify_video": "13"}


@dataclass
class UploadedMedia:
    id: str
    user_id: str
    media_type: str
    category: str
    total_bytes: int
    segments: dict[int, int] = field(default_factory=dict)
    finalized: bool = False
    state: str = "succeeded"  # processing: pending → in_progress → succeeded | failed
    polls: int = 0
    alt_text: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def media_key(self) -> str:
        return f"{KEY_PREFIX.get(self.category, '3')}_{self.id}"

    @property
    def kind(self) -> str:
        return (
            "video" if self.category == "tweet_video" else "gif" if self.category == "tweet_gif" else "image"
        )

    @property
    def usable(self) -> bool:
        return self.finalized and self.state == "succeeded" and time.time() < self.created + EXPIRES_SECONDS


def sniffed(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4" if data[8:12] != b"qt  " else "video/quicktime"
    return None


class XMedia:
    """The media endpoints' state and handlers; `user_of(request)` authenticates as the X fake does."""

    def __init__(self, next_id: Any, user_of: Any, check_after_secs: int = 1) -> None:
        self.next_id = next_id
        self.user_of = user_of
        self.check_after_secs = check_after_secs
        self.fail_processing = False
        self.uploads: dict[str, UploadedMedia] = {}

    def routes(self, guard: Any) -> list[web.RouteDef]:
        return [
            web.post("/2/media/upload", guard(self._simple)),
            web.get("/2/media/upload", guard(self._status)),
            web.post("/2/media/upload/initialize", guard(self._initialize)),
            web.post("/2/media/upload/{id}/append", guard(self._append)),
            web.post("/2/media/upload/{id}/finalize", guard(self._finalize)),
            web.post("/2/media/metadata", guard(self._metadata)),
        ]

    # --- what a tweet may carry ----------------------------------------------------------------

    def attach(self, user_id: str, media_ids: Any) -> list[str]:
        """The media keys of a tweet's `media.media_ids`, or X's 400 for ids it cannot use."""
        if not isinstance(media_ids, list) or not 1 <= len(media_ids) <= 4:
            raise invalid("media.media_ids", str(media_ids), "media_ids takes 1 to 4 media ids.")
        found = [self.uploads.get(str(media_id)) for media_id in media_ids]
        if any(upload is None or upload.user_id != user_id or not upload.usable for upload in found):
            raise invalid("media.media_ids", ",".join(map(str, media_ids)), "Your media IDs are invalid.")
        uploads = [upload for upload in found if upload is not None]
        if len(uploads) > 1 and any(upload.kind != "image" for upload in uploads):
            raise invalid(
                "media.media_ids",
                ",".join(map(str, media_ids)),
                "A Tweet takes up to 4 images, or 1 GIF or video.",
            )
        return [upload.media_key for upload in uploads]

    # --- endpoints -----------------------------------------------------------------------------

    async def _simple(self, request: web.Request) -> web.Response:
        user_id = self.user_of(request)
        form = await _form(request)
        data = form.get("media")
        if not isinstance(data, bytes) or not data:
            raise invalid("media", "", "The `media` field is required.")
        media_type = sniffed(data)
        if media_type is None or media_type.startswith("video/"):
            raise invalid(
                "media", "", "Unsupported media type; upload video with /2/media/upload/initialize."
            )
        category = str(
            form.get("media_category") or ("tweet_gif" if media_type == "image/gif" else "tweet_image")
        )
        _check_size(media_type, len(data))
        upload = UploadedMedia(str(self.next_id()), user_id, media_type, category, len(data), {0: len(data)})
        upload.finalized = True
        self.uploads[upload.id] = upload
        body = self._data(upload, size=True)
        body["image"] = {"image_type": media_type}
        return json_response(200, {"data": body})

    async def _initialize(self, request: web.Request) -> web.Response:
        user_id = self.user_of(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise invalid("body", "", "The request body must be a JSON object.")
        media_type = str(body.get("media_type") or "")
        total = body.get("total_bytes")
        category = str(body.get("media_category") or "")
        if media_type not in {
            "video/mp4",
            "video/quicktime",
            "image/gif",
            "image/jpeg",
            "image/png",
            "image/webp",
        }:
            raise invalid("media_type", media_type, "Unsupported media_type.")
        if not isinstance(total, int) or total <= 0:
            raise invalid("total_bytes", str(total), "total_bytes must be a positive integer.")
        if category not in KEY_PREFIX:
            raise invalid("media_category", category, "Unsupported media_category.")
        _check_size(media_type, total)
        upload = UploadedMedia(str(self.next_id()), user_id, media_type, category, total)
        self.uploads[upload.id] = upload
        return json_response(200, {"data": self._data(upload)})

    async def _append(self, request: web.Request) -> web.Response:
        upload = self._mine(request)
        form = await _form(request)
        data = form.get("media")
        raw_index = str(form.get("segment_index", ""))
        if not raw_index.isdigit() or int(raw_index) > 999:
            raise invalid("segment_index", raw_index, "segment_index must be between 0 and 999.")
        if not isinstance(data, bytes) or not data or len(data) > SEGMENT_BYTES:
            raise invalid("media", "", "Each segment must hold 1 byte to 5 MB.")
        if upload.finalized:
            raise invalid("id", upload.id, "The upload is already finalized.")
        upload.segments[int(raw_index)] = len(data)
        return json_response(200, {"data": {"expires_at": int(upload.created + EXPIRES_SECONDS)}})

    async def _finalize(self, request: web.Request) -> web.Response:
        upload = self._mine(request)
        received = sum(upload.segments.values())
        if received != upload.total_bytes or sorted(upload.segments) != list(range(len(upload.segments))):
            raise invalid(
                "id", upload.id, f"File size mismatch: got {received} bytes of {upload.total_bytes}."
            )
        upload.finalized = True
        body = self._data(upload, size=True)
        if upload.kind == "video":
            upload.state = "failed" if self.fail_processing else "pending"
            self.fail_processing = False
            body["processing_info"] = {"state": "pending", "check_after_secs": self.check_after_secs}
        return json_response(200, {"data": body})

    async def _status(self, request: web.Request) -> web.Response:
        if request.query.get("command") != "STATUS":
            raise invalid("command", request.query.get("command", ""), "command must be STATUS.")
        upload = self._mine(request, request.query.get("media_id", ""))
        upload.polls += 1
        if upload.state in {"pending", "in_progress"}:
            upload.state = "in_progress" if upload.polls == 1 else "succeeded"
        info: dict[str, Any] = {"state": upload.state}
        if upload.state == "in_progress":
            info.update(check_after_secs=self.check_after_secs, progress_percent=50)
        elif upload.state == "succeeded":
            info["progress_percent"] = 100
        else:
            info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video encoding"}
        return json_response(200, {"data": {**self._data(upload), "processing_info": info}})

    async def _metadata(self, request: web.Request) -> web.Response:
        user_id = self.user_of(request)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        upload = self.uploads.get(str(body.get("id", "")))
        if upload is None or upload.user_id != user_id:
            raise XProblem(
                404, {"title": "Not Found Error", "detail": "Media not found.", "type": "about:blank"}
            )
        text = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= ALT_TEXT_LIMIT:
            raise invalid("metadata.alt_text.text", str(text)[:20], "Alt text takes 1 to 1000 characters.")
        upload.alt_text = text
        return json_response(200, {"data": {"id": upload.id, "associated_metadata": True}})

    # --- helpers -------------------------------------------------------------------------------

    def _mine(self, request: web.Request, media_id: str | None = None) -> UploadedMedia:
        user_id = self.user_of(request)
        upload = self.uploads.get(media_id if media_id is not None else request.match_info["id"])
        if upload is None or upload.user_id != user_id:
            raise invalid("media_id", media_id or request.match_info.get("id", ""), "Unknown media id.")
        return upload

    @staticmethod
    def _data(upload: UploadedMedia, size: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": upload.id,
            "media_key": upload.media_key,
            "expires_after_secs": EXPIRES_SECONDS,
        }
        if size:
            data["size"] = upload.total_bytes
        return data


def _check_size(media_type: str, size: int) -> None:
    limit = (
        VIDEO_BYTES
        if media_type.startswith("video/")
        else GIF_BYTES
        if media_type == "image/gif"
        else IMAGE_BYTES
    )
    if size > limit:
        raise invalid("media", str(size), f"File size exceeds {limit} bytes for {media_type}.")


async def _form(request: web.Request) -> dict[str, Any]:
    if not request.content_type.startswith("multipart/form-data"):
        raise invalid("body", request.content_type, "The request must be multipart/form-data.")
    fields: dict[str, Any] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader):
            raw = bytes(await part.read())
            fields[part.name or ""] = raw if part.name == "media" else raw.decode("utf-8", "replace")
    return fields
