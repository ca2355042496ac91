"""The sandbox in its own process, so it never shares the worker's event loop or core.

    python -m bench.sandbox_proc --latency-ms 200

Every platform answers after `latency-ms`; the fakes' own rate limits are lifted (Telegram's 20
messages a minute per chat, X's tweet windows) so the figure is about Hamafza, not the fake's quota.
Prints one JSON line with the URL, then serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sandbox.server import serve


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    running = await serve()
    sandbox = running.sandbox
    for fake in sandbox.fakes.values():
        if hasattr(fake, "flood_limit_per_minute"):
            fake.flood_limit_per_minute = None
        if hasattr(fake, "tweet_limit"):
            fake.tweet_limit = 10**9
            fake.retweet_limit = 10**9
        sandbox.latency_ms[fake.platform] = args.latency_ms
    print(json.dumps({"url": running.url}), flush=True)

    async def forget() -> None:
        # The record of posts is for tests; here it would only grow.
        while True:
            await asyncio.sleep(1)
            sandbox.posts.clear()

    pruning = asyncio.get_running_loop().create_task(forget())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        pass
    pruning.cancel()
    await running.stop()


if __name__ == "__main__":
    asyncio.run(main())
