"""The CLI says what went wrong: a clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from redis.asyncio import Redis
from typer.testing import CliRunner

from schemas import Action, DeadLetter, DeadReason, Delivery
from services.cli import app
from services.demo.run import ACTION_LABELS
from services.keys import Keys
from services.pipeline.ledger import Ledger
from services.runtime import encode, now
from tests.test_config import document

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def network_file(tmp_path: Path) -> Path:
    doc = document()
    doc["agencies"]["khz-roads"]["accounts"]["telegram"]["bot_token"] = "1001:AAroadsroadsroadsroadsroads"
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


async def test_status_of_an_unknown_item_says_so_and_exits_1(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    code, out, err = await asyncio.to_thread(
        invoke, "status", "no-such-item", "--redis-url", redis_url, "--prefix", prefix
    )
    assert code == 1 and out == ""
    assert "no item 'no-such-item'" in err


async def test_resume_of_an_unknown_platform_or_agency_exits_2(
    redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    code, _, err = await asyncio.to_thread(
        invoke, "accounts", "resume", "khz-roads", "telegramm", "--redis-url", redis_url, "--prefix", prefix
    )
    assert code == 2 and "unknown platform 'telegramm'; did you mean 'telegram'?" in err
    config = str(network_file(tmp_path))
    code, _, err = await asyncio.to_thread(
        invoke,
        "accounts",
        "resume",
        "khz-raods",
        "x",
        "--config",
        config,
        "--redis-url",
        redis_url,
        "--prefix",
        prefix,
    )
    assert code == 2 and "unknown agency 'khz-raods'; did you mean 'khz-roads'?" in err


async def test_paused_accounts_say_why_and_until_when_in_tehran(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    ledger = Ledger(redis, Keys(prefix))
    until = now() + timedelta(minutes=15)
    await ledger.pause_account("x", "khz-roads", until)
    await ledger.pause_account("telegram", "khz-rail", until, reason="rate_limit")
    code, out, _ = await asyncio.to_thread(
        invoke, "accounts", "paused", "--redis-url", redis_url, "--prefix", prefix
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "khz-roads on x" in out and "refused its credentials" in out
    assert "khz-rail on telegram" in out and "rate limit" in out
    assert "Tehran" in out and "140" in out  # a Jalali year
    code, out, _ = await asyncio.to_thread(
        invoke, "accounts", "paused", "--json", "--redis-url", redis_url, "--prefix", prefix
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert {(r["agency"], r["reason"]) for r in rows} == {("khz-roads", "auth"), ("khz-rail", "rate_limit")}


async def test_publish_with_a_network_file_refuses_an_unknown_agency(tmp_path: Path, redis_url: str) -> None:
    config = str(network_file(tmp_path))
    code, out, err = await asyncio.to_thread(
        invoke, "publish", "--agency", "no-such", "--text", "x", "--config", config, "--redis-url", redis_url
    )
    assert code == 2 and out == "" and "unknown agency 'no-such'" in err


async def test_a_replay_that_needs_force_exits_1_and_says_so(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    delivery = Delivery(
        id="u-1/khz-roads/telegram/publish", item_id="u-1", agency="khz-roads", platform="telegram",
        action=Action.PUBLISH, origin_agency="khz-roads", text="x",
    )  # fmt: skip
    letter = DeadLetter(
        reason=DeadReason.UNCONFIRMED, detail="timed out", stage="deliver", item_id="u-1",
        agency="khz-roads", platform="telegram", action=Action.PUBLISH, delivery=delivery, at=now(),
    )  # fmt: skip
    await redis.xadd(Keys(prefix).dead, encode(letter))
    code, out, err = await asyncio.to_thread(
        invoke, "dlq", "replay", "--redis-url", redis_url, "--prefix", prefix
    )
    assert code == 1
    assert json.loads(out) == {"needs_force": 1}
    assert "--force" in err


def test_check_config_reports_every_problem_at_once_with_did_you_mean(tmp_path: Path) -> None:
    doc = document()
    doc["agencies"]["khz-roads"]["acounts"] = doc["agencies"]["khz-roads"].pop("accounts")
    doc["networks"]["khz-transport"]["delay_second"] = [1, 2]
    doc["agencies"]["khz-rail"]["accounts"]["telegram"]["bot_token"] = "${NOT_SET_ANYWHERE_42}"
    doc["agencies"]["khz-rail"]["accounts"]["telegram"]["chat_idd"] = "@x"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, _, err = invoke("check-config", "--config", str(path))
    assert code == 2
    assert "agencies.khz-roads.acounts: unknown key; did you mean `accounts`?" in err
    assert "networks.khz-transport.delay_second: unknown key; did you mean `delay_seconds`?" in err
    assert "NOT_SET_ANYWHERE_42 is not set" in err
    assert "agencies.khz-rail.accounts.telegram.chat_idd: unknown key; did you mean `chat_id`?" in err


def test_redis_down_is_one_line_and_exit_3() -> None:
    for args in (["status", "x"], ["dlq", "list"], ["accounts", "paused"], ["streams"]):
        done = subprocess.run(
            [sys.executable, "-m", "services", *args, "--redis-url", "redis://127.0.0.1:1/0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "HAMAFZA_LOG_FORMAT": "json"},
        )
        assert done.returncode == 3, (args, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Redis does not answer" in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_demo_names_every_action_in_persian() -> None:
    assert set(ACTION_LABELS) == {action.value for action in Action}
    assert all(label and not label.isascii() for label in ACTION_LABELS.values())
