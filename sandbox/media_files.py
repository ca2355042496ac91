"""An agency's CMS, as far as media go: pictures and videos at URLs, for tests and the demo.

`GET /_sandbox/media/{name}` serves a file made up on the spot, its type from the name's extension
(`.jpg .png .gif .webp .mp4 .mov`, and `.html` for a page that is not a picture); `?bytes=N` makes
it N bytes long (padding after a real header, so the type is read from the bytes), `?chunked=1`
sends it without a Content-Length, `?delay_ms=N` answers N ms late, `?gzip=1` sends it gzip-encoded. `GET /_sandbox/redirect?to=<url>`
answers 302 to `to`. Every request is counted by path in `Sandbox.media_requests`, so tests can tell how often a URL was fetched.
"""

from __future__ import annotations

import asyncio
import gzip
import struct
import zlib
from collections import Counter
from typing import Protocol

from aiohttp import web

# A real 1×1 PNG: signature, IHDR, one IDAT row, IEND.


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\x1f\x6f\xb4"))
    + _png_chunk(b"IEND", b"")
)
HEADERS: dict[str, tuple[str, bytes]] = {
    "jpg": ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
    "png": ("image/png", PNG),
    "gif": ("image/gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,"),
    "webp": ("image/webp", b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"),
    "mp4": ("video/mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
    "mov": ("video/quicktime", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "),
    "html": ("text/html", b"<!doctype html><html><body>not a picture</body></html>"),
}
DEFAULT_SIZE = 2048


class _Counts(Protocol):
    media_requests: Counter[str]


def media_routes(state: _Counts) -> list[web.RouteDef]:
    async def serve_file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        state.media_requests[request.path] += 1
        extension = name.rpartition(".")[2].lower()
        if extension not in HEADERS:
            raise web.HTTPNotFound(text=f"no such file: {name}")
        content_type, header = HEADERS[extension]
        await asyncio.sleep(float(request.query.get("delay_ms", 0)) / 1000)
        size = max(int(request.query.get("bytes", DEFAULT_SIZE)), len(header))
        padding = size - len(header)
        body = header + (bytes(range(len(name) % 7, 251)) * (padding // 240 + 1))[:padding]
        if request.query.get("gzip") == "1":  # a compressed body, whatever the client asked for
            compressed = gzip.compress(body)
            return web.Response(
                body=compressed, headers={"Content-Type": content_type, "Content-Encoding": "gzip"}
            )
        if request.query.get("chunked") != "1":
            return web.Response(body=body, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 64 * 1024):
            await response.write(body[start : start + 64 * 1024])
        await response.write_eof()
        return response

    async def redirect(request: web.Request) -> web.Response:
        state.media_requests[request.path] += 1
        raise web.HTTPFound(request.query["to"])

    return [
        web.get("/_sandbox/media/{name}", serve_file),
        web.get("/_sandbox/redirect", redirect),
    ]
