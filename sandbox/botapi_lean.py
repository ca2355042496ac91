"""A minimal Bot API fake for load measurements: `sendMessage` answered with the Bot API's Message after
a fixed latency, over HTTP/1.1 keep-alive, with nothing recorded.

    python -m sandbox.botapi_lean --latency-ms 200     # prints {"url": …}, serves until stdin closes

The full fake (sandbox/telegram.py) records every post, checks limits and runs the fault middleware:
at thousands of calls a second that costs more CPU than the clients it is meant to measure, on the same
machine. This one parses just enough HTTP to answer (`Content-Length` bodies, JSON or form), so the
figures of `make bench` phase 5 are the clients' own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any
from urllib.parse import parse_qs

_IDS = itertools.count(1)


def message_for(body: bytes, content_type: str) -> dict[str, Any]:
    """The Message a `sendMessage` with this body gets."""
    if "json" in content_type:
        params = json.loads(body or b"{}")
    else:
        params = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    chat_ref = str(params.get("chat_id", "0"))
    chat: dict[str, Any] = {"id": -1_000_000_000_000 - (hash(chat_ref) % 10**9), "type": "channel"}
    if chat_ref.startswith("@"):
        chat["username"] = chat_ref[1:]
        chat["title"] = chat_ref[1:]
    return {
        "message_id": next(_IDS),
        "date": int(time.time()),
        "chat": chat,
        "text": str(params.get("text", "")),
    }


class BotApiProtocol(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in head[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            path = head[0].split(" ")[1] if " " in head[0] else "/"
            self.answer(path, body, headers.get("content-type", ""))

    def answer(self, path: str, body: bytes, content_type: str) -> None:
        if path.rsplit("/", 1)[-1] == "sendMessage":
            status, payload = "200 OK", {"ok": True, "result": message_for(body, content_type)}
        else:
            status, payload = "404 Not Found", {"ok": False, "error_code": 404, "description": "Not Found"}
        data = json.dumps(payload).encode()
        response = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode() + data
        asyncio.get_running_loop().call_later(self.latency, self.send, response)

    def send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: BotApiProtocol(args.latency_ms / 1000), "127.0.0.1", 0, backlog=4096
    )
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        pass
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
