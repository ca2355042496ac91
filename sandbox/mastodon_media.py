"""Mastodon's media attachments, as the Mastodon fake serves them (Mastodon 4.x).

- `POST /api/v2/media` (multipart `file`, `description`, `focus`): an image is processed at once
  (200, `url` set); a video is processed afterwards (202, `url` null).
- `GET /api/v1/media/{id}`: 206 with `url` null while processing, then 200 with the attachment.
- A status's `media_ids[]`: at most 4, the account's own, processed ("Cannot attach files that have
  not finished processing"), and no video with anything else.
Limits as `MediaAttachment`: images 16 MB, video 99 MB, description 1500 characters; 422 otherwise.
Types are read from the bytes (Mastodon checks them with `file`, refusing "contents that are not what
they are reported to be").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

IMAGE_LIMIT = 16 * 1024 * 1024
VIDEO_LIMIT = 99 * 1024 * 1024
DESCRIPTION_LIMIT = 1500
MAX_ATTACHMENTS = 4
TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class MediaProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Attachment:
    id: str
    account_id: str
    content_type: str
    size: int
    description: str | None
    processing_polls_left: int

    @property
    def kind(self) -> str:
        if self.content_type == "image/gif":
            return "gifv"
        return "video" if self.content_type.startswith("video/") else "image"

    @property
    def processed(self) -> bool:
        return self.processing_polls_left <= 0

    def entity(self, host: str) -> dict[str, Any]:
        url = f"https://{host}/system/media_attachments/{self.id}/original" if self.processed else None
        return {
            "id": self.id,
            "type": self.kind,
            "url": url,
            "preview_url": f"https://{host}/system/media_attachments/{self.id}/small",
            "remote_url": None,
            "text_url": None,
            "meta": {"original": {"size": self.size}},
            "description": self.description,
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
        }


def sniffed(data: bytes) -> str | None:
    for magic, content_type in TYPES.items():
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    return None


class MastodonMedia:
    """Uploaded attachments; `video_polls` is how many reads a video stays in processing."""

    def __init__(self, host: str, next_id: Any, video_polls: int = 1) -> None:
        self.host = host
        self.next_id = next_id
        self.video_polls = video_polls
        self.attachments: dict[str, Attachment] = {}

    async def upload(self, account_id: str, request: web.Request) -> web.Response:
        fields: dict[str, bytes] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader):
                fields[part.name or ""] = bytes(await part.read())
        data = fields.get("file")
        if not data:
            raise MediaProblem(422, "Validation failed: File can't be blank")
        content_type = sniffed(data)
        if content_type is None:
            raise MediaProblem(
                422, "Validation failed: File has contents that are not what they are reported to be"
            )
        limit = VIDEO_LIMIT if content_type.startswith("video/") else IMAGE_LIMIT
        if len(data) > limit:
            raise MediaProblem(
                422, f"Validation failed: File file size must be less than {limit // 1024 // 1024} MB"
            )
        description = fields["description"].decode() if fields.get("description") else None
        if description is not None and len(description) > DESCRIPTION_LIMIT:
            raise MediaProblem(
                422, f"Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)"
            )
        polls = self.video_polls if content_type.startswith("video/") else 0
        attachment = Attachment(str(self.next_id()), account_id, content_type, len(data), description, polls)
        self.attachments[attachment.id] = attachment
        status = 200 if attachment.processed else 202
        return web.json_response(attachment.entity(self.host), status=status)

    def read(self, account_id: str, media_id: str) -> web.Response:
        attachment = self._own(account_id, media_id)
        if not attachment.processed:
            attachment.processing_polls_left -= 1
            return web.json_response(attachment.entity(self.host) | {"url": None}, status=206)
        return web.json_response(attachment.entity(self.host))

    def attach(self, account_id: str, media_ids: list[str]) -> list[Attachment]:
        """The attachments a status may carry, or Mastodon's 422 for the first problem."""
        if len(media_ids) > MAX_ATTACHMENTS:
            raise MediaProblem(422, f"Validation failed: Media attachments limit is {MAX_ATTACHMENTS}")
        attachments = [self._own(account_id, media_id) for media_id in media_ids]
        if any(not attachment.processed for attachment in attachments):
            raise MediaProblem(
                422, "Cannot attach files that have not finished processing. Try again in a moment!"
            )
        if len(attachments) > 1 and any(a.kind in {"video", "gifv"} for a in attachments):
            raise MediaProblem(422, "Cannot attach a video to a post that already contains images")
        return attachments

    def _own(self, account_id: str, media_id: str) -> Attachment:
        attachment = self.attachments.get(media_id)
        if attachment is None or attachment.account_id != account_id:
            raise MediaProblem(404, "Record not found")
        return attachment
