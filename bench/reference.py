"""Reference ceilings, each run in its own process like a worker: `python -m bench.reference KIND URL STREAM N`.

- raw: redis-py asyncio, XREADGROUP COUNT 100 BLOCK 100, json.loads of each entry, one XACK per batch;
- faststream: FastStream 0.7.8 batch subscriber (max_records=100, MANUAL ack), a no-op handler that
  acknowledges the whole batch with one XACK.

Both drain N pre-loaded entries of ~260 B JSON; the figure is entries/s from the first read to the last
acknowledgement, plus this process's CPU time per entry. One JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from redis.asyncio import Redis

from bench.common import PAYLOAD_TEXT

GROUP = "ref"


async def preload(redis: Redis, stream: str, n: int) -> None:
    await redis.delete(stream)
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    for start in range(0, n, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 500)):
                body = {"id": f"r{i}", "agency": "khz-roads", "text": PAYLOAD_TEXT, "amplify": False}
                pipe.xadd(stream, {"data": json.dumps(body, ensure_ascii=False)})
            await pipe.execute()


async def raw(url: str, stream: str, n: int) -> tuple[float, float]:
    redis = Redis.from_url(url)
    got = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while got < n:
        response: Any = await redis.xreadgroup(GROUP, "c1", {stream: ">"}, count=100, block=100)
        for _stream, entries in response or []:
            ids = []
            for entry_id, fields in entries:
                json.loads(fields[b"data"])
                ids.append(entry_id)
            if ids:
                await redis.xack(stream, GROUP, *ids)
            got += len(entries)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await redis.aclose()
    return elapsed, cpu


async def faststream(url: str, stream: str, n: int) -> tuple[float, float]:
    from faststream import AckPolicy
    from faststream.redis import RedisBroker, StreamSub
    from faststream.redis.annotations import RedisBatchStreamMessage

    broker = RedisBroker(url, logger=None)
    done = asyncio.Event()
    count = 0

    @broker.subscriber(
        stream=StreamSub(stream, group=GROUP, consumer="c1", batch=True, max_records=100),
        ack_policy=AckPolicy.MANUAL,
    )
    async def handle(body: list[Any], msg: RedisBatchStreamMessage) -> None:
        nonlocal count
        count += len(body)
        await msg.ack()
        if count >= n:
            done.set()

    cpu0, t0 = time.process_time(), time.perf_counter()
    await broker.start()
    await done.wait()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await broker.stop()
    return elapsed, cpu


async def main(kind: str, url: str, stream: str, n: int) -> None:
    redis = Redis.from_url(url)
    await preload(redis, stream, n)
    elapsed, cpu = await (raw if kind == "raw" else faststream)(url, stream, n)
    pending: Any = await redis.xpending(stream, GROUP)
    await redis.delete(stream)
    await redis.aclose()
    print(
        json.dumps(
            {
                "kind": kind,
                "n": n,
                "per_s": n / elapsed,
                "cpu_us_per_entry": cpu / n * 1e6,
                "pending_after": int(pending["pending"]),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
