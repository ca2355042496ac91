"""Putting items on the items stream the way agencies do: `XADD <prefix>:items * data '<json>'`."""

from __future__ import annotations

import asyncio
import json
import time

from redis.asyncio import Redis

from bench.common import PAYLOAD_TEXT


def item(item_id: str, agency: str, amplify: bool) -> dict[str, str]:
    body = {
        "id": item_id,
        "agency": agency,
        "text": PAYLOAD_TEXT,
        "tags": ["هفته حمل و نقل"],
        "link": "https://example.gov.ir/news/1404/1",
        "amplify": amplify,
    }
    return {"data": json.dumps(body, ensure_ascii=False)}


async def preload(
    redis: Redis, stream: str, tag: str, n: int, agencies: int, amplify: bool = False, start: int = 0
) -> None:
    """N items (ids `<tag><seq>`), spread over the agencies, pipelined 500 per round trip."""
    for first in range(start, start + n, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for seq in range(first, min(start + n, first + 500)):
                pipe.xadd(stream, item(f"{tag}{seq}", f"a{seq % agencies:03d}", amplify))
            await pipe.execute()


async def paced(redis: Redis, stream: str, items_per_s: float, seconds: float, agencies: int) -> int:
    """Items at a steady rate, each stamped with its XADD time in its id (L<epoch ns>-<seq>)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    total = int(items_per_s * seconds)
    while sent < total:
        due = min(total, int((loop.time() - start) * items_per_s) + 1) - sent
        if due > 0:
            async with redis.pipeline(transaction=False) as pipe:
                for seq in range(sent, sent + due):
                    pipe.xadd(stream, item(f"L{time.time_ns()}-{seq}", f"a{seq % agencies:03d}", False))
                await pipe.execute()
            sent += due
        next_at = start + sent / items_per_s
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    return sent
