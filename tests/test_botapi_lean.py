"""The bench's minimal Bot API fake answers the real client (JSON) and form bodies, over keep-alive."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from adapters.telegram import TelegramAdapter
from sandbox.botapi_lean import BotApiProtocol
from tests.test_botapi import credentials, delivery


async def test_the_lean_fake_answers_after_its_latency() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BotApiProtocol(0.2), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    adapter = TelegramAdapter(api_base=base, timeout_seconds=5)
    try:
        started = time.monotonic()
        posted = await asyncio.gather(
            *(adapter.publish(credentials(), delivery("telegram")) for _ in range(20))
        )
        assert 0.2 <= time.monotonic() - started < 2  # answered after the latency, concurrently
        assert len({p.post_id for p in posted}) == 20 and posted[0].url is not None
        async with aiohttp.ClientSession() as http:
            form = {"chat_id": "@x", "text": "فرم"}
            async with http.post(f"{base}/bot1:a/sendMessage", data=form) as response:
                assert (await response.json())["result"]["text"] == "فرم"
            async with http.post(f"{base}/bot1:a/getMe") as response:
                assert response.status == 404
    finally:
        await adapter.aclose()
        server.close()
        await server.wait_closed()
