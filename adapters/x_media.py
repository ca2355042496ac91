"""Pictures and video on X through the v2 media upload, signed with OAuth 1.0a user context.

tweepy 4.17 has no v2 media (tweepy/tweepy#2217), and X's own `xdk` is an alpha whose client is
synchronous; so these few calls go through the adapter's aiohttp session, signed by
`oauthlib.oauth1.Client` exactly as tweepy's `AsyncClient` signs its own requests (OAuth 1.0a
signs the URL and query, not a multipart or JSON body).

- an image: `POST /2/media/upload` (multipart `media`, `media_category=tweet_image`);
- a GIF or a video: `POST /2/media/upload/initialize` → `/{id}/append` (4 MB segments) →
  `/{id}/finalize`, then `GET /2/media/upload?command=STATUS` every `check_after_secs` until
  `succeeded` (bounded by the adapter's timeout);
- alt text: `POST /2/media/metadata`.
An upload posts nothing, so any failure on the way is safe to retry: it is a RetryableError
(transport) or what X's status says, never an ambiguous outcome.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from oauthlib.oauth1 import Client as OAuthClient  # type: ignore[import-untyped]
from yarl import URL

from adapters.base import (
    AuthError,
    DeliveryError,
    MediaFile,
    PermanentError,
    RateLimitedError,
    RetryableError,
)

SEGMENT_BYTES = 4 * 1024 * 1024  # under X's 5 MB per append
DEFAULT_RATE_WINDOW = timedelta(minutes=15)


class XMediaUpload:
    """Uploads one delivery's media for one account; `host` is the URL signed (X's own)."""

    def __init__(
        self, host: str, session: Callable[[], aiohttp.ClientSession], deadline_seconds: float
    ) -> None:
        self.host = host
        self.session = session
        self.deadline_seconds = deadline_seconds

    async def upload(self, keys: tuple[str, str, str, str], media: Sequence[MediaFile]) -> list[str]:
        """The media ids to put on the tweet, in order."""
        if len(media) > 1 and any(file.kind == "video" or file.content_type == "image/gif" for file in media):
            raise PermanentError(
                "X takes up to 4 pictures, or one GIF or video, in a post; send the video as its own item "
                "or leave x out of `platforms`"
            )
        ids = []
        for file in media:
            chunked = file.kind == "video" or file.content_type == "image/gif"
            media_id = await (self._chunked(keys, file) if chunked else self._simple(keys, file))
            if file.alt and file.kind == "image":
                await self._call(
                    keys,
                    "POST",
                    "/2/media/metadata",
                    json_body={"id": media_id, "metadata": {"alt_text": {"text": file.alt[:1000]}}},
                )
            ids.append(media_id)
        return ids

    async def _simple(self, keys: tuple[str, str, str, str], file: MediaFile) -> str:
        form = aiohttp.FormData()
        form.add_field("media", file.data, filename=file.filename, content_type=file.content_type)
        form.add_field("media_category", "tweet_image")
        answer = await self._call(keys, "POST", "/2/media/upload", form=form)
        return str(answer["data"]["id"])

    async def _chunked(self, keys: tuple[str, str, str, str], file: MediaFile) -> str:
        category = "tweet_video" if file.kind == "video" else "tweet_gif"
        started = await self._call(
            keys,
            "POST",
            "/2/media/upload/initialize",
            json_body={"media_type": file.content_type, "total_bytes": file.size, "media_category": category},
        )
        media_id = str(started["data"]["id"])
        for index, start in enumerate(range(0, file.size, SEGMENT_BYTES)):
            form = aiohttp.FormData()
            form.add_field("segment_index", str(index))
            form.add_field(
                "media",
                file.data[start : start + SEGMENT_BYTES],
                filename=file.filename,
                content_type="application/octet-stream",
            )
            await self._call(keys, "POST", f"/2/media/upload/{media_id}/append", form=form)
        finished = await self._call(keys, "POST", f"/2/media/upload/{media_id}/finalize")
        await self._processed(keys, media_id, finished["data"].get("processing_info"))
        return media_id

    async def _processed(self, keys: tuple[str, str, str, str], media_id: str, info: Any) -> None:
        """Polls STATUS as X asks (`check_after_secs`) until the video is usable, within the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_seconds
        while isinstance(info, dict) and info.get("state") in {"pending", "in_progress"}:
            wait = float(info.get("check_after_secs") or 1)
            if loop.time() + wait > deadline:
                raise RetryableError("X was still processing the video; it will be uploaded again")
            await asyncio.sleep(wait)
            status = await self._call(
                keys, "GET", "/2/media/upload", query={"command": "STATUS", "media_id": media_id}
            )
            info = status["data"].get("processing_info")
        if isinstance(info, dict) and info.get("state") == "failed":
            error = info.get("error") or {}
            raise PermanentError(
                f"X could not process the video: {error.get('message') or error.get('name') or 'failed'}; "
                "export it as MP4 (H.264, AAC), or leave x out of `platforms`"
            )

    async def _call(
        self,
        keys: tuple[str, str, str, str],
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        form: aiohttp.FormData | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = str(URL(self.host + path).with_query(sorted((query or {}).items())))
        signed_url, headers, _ = OAuthClient(*keys).sign(url, method)
        # As tweepy does: oauthlib percent-encodes colons in the query, which aiohttp must keep as is.
        before, mark, rest = signed_url.partition("?")
        target = URL(f"{before}{mark}{rest.replace(':', '%3A')}", encoded=True)
        body: Any = form
        if json_body is not None:
            body = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        try:
            async with self.session().request(method, target, data=body, headers=headers) as response:
                raw = await response.read()
                status, reason, response_headers = response.status, response.reason, response.headers
        except (aiohttp.ClientError, TimeoutError) as error:
            failure: DeliveryError = RetryableError(
                f"uploading media to X failed ({type(error).__name__}); nothing was posted"
            )
        else:
            parsed = _json(raw)
            if 200 <= status < 300 and isinstance(parsed.get("data"), dict):
                return parsed
            failure = _failure(status, reason or "", parsed, response_headers)
        # Raised outside the except block, so no request (with its Authorization header) rides along.
        raise failure


def _json(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _failure(status: int, reason: str, body: dict[str, Any], headers: Any) -> DeliveryError:
    messages = [str(error.get("message")) for error in body.get("errors", []) if isinstance(error, dict)]
    detail = "; ".join(messages) or str(body.get("detail") or reason)
    said = f"X answered {status} to a media upload: {detail}"
    if status == 429:
        reset = headers.get("x-rate-limit-reset", "")
        reset_at = (
            datetime.fromtimestamp(int(reset), UTC)
            if reset.isdigit()
            else datetime.now(UTC) + DEFAULT_RATE_WINDOW
        )
        return RateLimitedError(said, reset_at=reset_at)
    if status == 401:
        return AuthError(f"{said} (renew the account's tokens)")
    if status == 403:
        return AuthError(f"{said} (the X app needs read and write permission and media upload access)")
    if status >= 500 or status < 200 or 200 <= status < 300:
        return RetryableError(said)
    return PermanentError(f"{said}; check the picture or video against X's limits")
