"""The whole product as an agency and ops see it: `hamafza run all` as a real process, a raw XADD,
the sandbox platforms over HTTP through tweepy and python-telegram-bot, and JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from redis.asyncio import Redis

from sandbox import RunningSandbox
from tests.support.sandbox_network import bot_token, x_telegram_network

AGENCIES = {
    "khz-roads": ("اداره کل راه و شهرسازی خوزستان", "1001", "@khz_roads"),
    "khz-rail": ("اداره کل راه‌آهن جنوب", "1002", "@south_rail"),
    "khz-ports": ("اداره کل بنادر و دریانوردی خوزستان", "1003", "@khz_ports"),
}
SECRETS = {name: bot_token(AGENCIES, name) for name in AGENCIES}


def network_file(sandbox: RunningSandbox) -> dict[str, Any]:
    return x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0, 0.5))


async def test_a_raw_xadd_is_posted_once_per_account_and_amplified_once_per_partner(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    config = tmp_path / "network.yaml"
    config.write_text(yaml.safe_dump(network_file(sandbox), allow_unicode=True), encoding="utf-8")
    environment = {**os.environ, "HAMAFZA_LOG_FORMAT": "json", "HAMAFZA_CLAIM_IDLE_MS": "2000"}
    worker = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "services",
            "run",
            "all",
            "--config",
            str(config),
            "--redis-url",
            redis_url,
            "--prefix",
            prefix,
        ],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=environment,
    )
    try:
        item = {
            "id": "tw-1404-1",
            "agency": "khz-roads",
            "text": "آغاز هفته حمل‌ونقل؛ ۱۲ طرح افتتاح می‌شود.",
            "tags": ["هفته حمل و نقل"],
            "link": "https://khuzestan.mrud.ir/news/1",
        }
        await redis.xadd(f"{prefix}:items", {"data": json.dumps(item, ensure_ascii=False)})
        for _ in range(1200):  # up to 60 s: a loaded machine starts the worker slowly
            if len(sandbox.sandbox.posts) >= 6:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # anything extra (a duplicate) would arrive now
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=60)

    posts = Counter((post.platform, post.account, post.action) for post in sandbox.sandbox.posts)
    assert posts == Counter(
        {
            ("x", "1001", "publish"): 1,
            ("x", "1002", "retweet"): 1,
            ("x", "1003", "retweet"): 1,
            ("telegram", "1001", "publish"): 1,
            ("telegram", "1002", "forward"): 1,
            ("telegram", "1003", "forward"): 1,
        }
    ), output.decode()
    assert worker.returncode == 0

    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    posted = [line for line in lines if line["event"] == "delivery.posted"]
    assert len(posted) == 6
    for line in posted:
        assert {"item_id", "agency", "platform", "account", "action", "timestamp", "level"} <= line.keys()
    text = output.decode()
    for secret in [
        *SECRETS.values(),
        "cs-khz-roads-secret",
        "1001-khz-roads-token-secret",
        "ats-khz-roads-secret",
    ]:
        assert secret not in text
