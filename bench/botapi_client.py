"""One Bot-API client path in its own process: closed-loop deliveries against the sandbox's Telegram
fake (`sandbox/botapi_lean.py`, which answers after 200 ms), to measure deliveries/s and CPU per delivery of this process.

    python -m bench.botapi_client --path aiohttp|ptb --api http://127.0.0.1:PORT/telegram

`--concurrency` deliveries are kept in flight over `--bots` bots and channels; after `--warmup`
seconds, the completions and this process' CPU time are counted for `--window` seconds. Prints one
JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from typing import Any, Protocol

from adapters.base import Posted
from adapters.botfamily import BotCredentials
from adapters.telegram import TelegramAdapter
from bench.common import PAYLOAD_TEXT
from schemas import Action, Delivery


class Publisher(Protocol):
    async def publish(self, credentials: BotCredentials, delivery: Delivery) -> Posted: ...
    async def aclose(self) -> None: ...


def make(path: str, api: str) -> Publisher:
    if path == "aiohttp":
        return TelegramAdapter(api_base=api)
    from bench.ptb_reference import PtbTelegram

    return PtbTelegram(api)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client = make(args.path, args.api)
    accounts = [
        BotCredentials(bot_token=f"{7000 + n}:AAbench{n}TokenXXXXXXXXXXXXXXXX", chat_id=f"@bench_channel_{n}")
        for n in range(args.bots)
    ]
    serial = itertools.count()
    done = 0
    errors: dict[str, int] = {}
    stop = False

    async def worker(index: int) -> None:
        nonlocal done
        while not stop:
            n = next(serial)
            delivery = Delivery(
                id=f"b{n}/agency/telegram/publish",
                item_id=f"b{n}",
                agency="agency",
                platform="telegram",
                action=Action.PUBLISH,
                origin_agency="agency",
                text=PAYLOAD_TEXT,
                link="https://example.ir/news/1",
            )
            try:
                await client.publish(accounts[n % len(accounts)], delivery)
            except Exception as error:  # counted: a bench must not stop on one platform answer
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                await asyncio.sleep(0.05)
            else:
                done += 1

    tasks = []
    for index in range(args.concurrency):
        tasks.append(asyncio.get_running_loop().create_task(worker(index)))
        if index % 100 == 99:
            await asyncio.sleep(0.1)  # a ramp: connections are opened a few at a time, as traffic grows
    await asyncio.sleep(args.warmup)
    d0, c0, t0 = done, time.process_time(), time.monotonic()
    await asyncio.sleep(args.window)
    d1, c1, t1 = done, time.process_time(), time.monotonic()
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    deliveries = d1 - d0
    return {
        "path": args.path,
        "concurrency": args.concurrency,
        "deliveries": deliveries,
        "per_s": deliveries / (t1 - t0),
        "cpu_us_per_delivery": (c1 - c0) / max(1, deliveries) * 1e6,
        "cpu_utilisation": (c1 - c0) / (t1 - t0),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", choices=("aiohttp", "ptb"), required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--concurrency", type=int, default=1500)
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(args))), flush=True)


if __name__ == "__main__":
    main()
