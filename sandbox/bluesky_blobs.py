"""Blobs on the Bluesky fake: `com.atproto.repo.uploadBlob` and the image embed of a post.

`uploadBlob` takes the raw bytes with their Content-Type and answers
`{"blob": {"$type": "blob", "ref": {"$link": <CIDv1 raw sha-256>}, "mimeType", "size"}}`; a PDS holds
uploads up to its own limit (5 MB here) and checks the lexicon's limits when a record references them.
`app.bsky.embed.images` (lexicon): 1–4 images, each `{"image": blob, "alt": string}` (alt required,
may be empty), an image blob `image/*` of at most 1,000,000 bytes, uploaded by the same account.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

UPLOAD_LIMIT = 5 * 1024 * 1024
IMAGE_LIMIT = 1_000_000
MAX_IMAGES = 4
IMAGES = "app.bsky.embed.images"
INVALID_POST = "Invalid app.bsky.feed.post record: "


class BlobProblem(ValueError):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def cid_of(data: bytes) -> str:
    """A CIDv1 (raw codec, sha2-256) in base32, as a PDS names a blob."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def sniffed(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


class Blobs:
    def __init__(self) -> None:
        self.blobs: dict[str, dict[str, Any]] = {}  # cid → {did, mimeType, size}

    def upload(self, did: str, data: bytes, declared: str) -> dict[str, Any]:
        if not data:
            raise BlobProblem(400, "InvalidRequest", "Request body is empty")
        if len(data) > UPLOAD_LIMIT:
            raise BlobProblem(400, "BlobTooLarge", f"This file is too large. It is {len(data)} bytes")
        # A PDS trusts the bytes over a generic declared type.
        mime = sniffed(data) if declared in {"", "*/*", "application/octet-stream"} else declared
        cid = cid_of(data)
        self.blobs[cid] = {"did": did, "mimeType": mime, "size": len(data)}
        return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}}

    def embedded(self, did: str, record: dict[str, Any]) -> list[str]:
        """The blob CIDs a post embeds as images, or the PDS's 400 for an invalid embed."""
        embed = record.get("embed")
        if not embed:
            return []
        if not isinstance(embed, dict) or embed.get("$type") != IMAGES:
            raise BlobProblem(400, "InvalidRequest", f"{INVALID_POST}Record/embed has an unsupported $type")
        images = embed.get("images")
        if not isinstance(images, list) or not 1 <= len(images) <= MAX_IMAGES:
            raise BlobProblem(
                400,
                "InvalidRequest",
                f"{INVALID_POST}Record/embed/images must not have more than {MAX_IMAGES} elements",
            )
        cids = []
        for index, image in enumerate(images):
            where = f"Record/embed/images/{index}"
            if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                raise BlobProblem(
                    400, "InvalidRequest", f'{INVALID_POST}{where} must have the property "alt"'
                )
            cid = str(((image.get("image") or {}).get("ref") or {}).get("$link") or "")
            blob = self.blobs.get(cid)
            if blob is None or blob["did"] != did:
                raise BlobProblem(400, "BlobNotFound", f"Could not find blob: {cid}")
            if not str(blob["mimeType"]).startswith("image/"):
                raise BlobProblem(
                    400, "InvalidMimeType", f"{INVALID_POST}{where}/image has a mime type other than image/*"
                )
            if blob["size"] > IMAGE_LIMIT:
                raise BlobProblem(
                    400, "BlobTooLarge", f"{INVALID_POST}{where}/image is larger than {IMAGE_LIMIT} bytes"
                )
            cids.append(cid)
        return cids
