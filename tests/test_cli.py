"""The `hamafza` command as ops and agencies use it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from redis.asyncio import Redis
from typer.testing import CliRunner

from services.cli import app
from tests.test_config import document

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_schema_exports_every_model(tmp_path: Path) -> None:
    code, output = invoke("schema")
    assert code == 0
    schemas = json.loads(output)
    assert set(schemas) == {"item", "delivery", "result", "dead-letter", "network-file"}
    assert "agency" in schemas["item"]["required"]
    code, _ = invoke("schema", "--out", str(tmp_path))
    assert code == 0 and (tmp_path / "item.schema.json").exists()


def test_check_config_reports_the_bad_key(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    doc = document()
    doc["agencies"]["khz-roads"]["accounts"]["telegram"]["bot_token"] = "1001:AAroadsroadsroadsroadsroads"
    good.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, output = invoke("check-config", "--config", str(good))
    assert code == 0 and "2 agencies" in output

    del doc["agencies"]["khz-roads"]["accounts"]["x"]["consumer_key"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, output = invoke("check-config", "--config", str(bad))
    assert code == 2 and "agencies.khz-roads.accounts.x.consumer_key" in output


def test_run_without_a_network_file_says_so() -> None:
    code, output = invoke("run", "all")
    assert code == 2 and "HAMAFZA_CONFIG" in output


async def test_publish_makes_the_same_xadd_an_agency_makes(redis_url: str, prefix: str, redis: Redis) -> None:
    args = ["publish", "--agency", "khz-roads", "--text", "آغاز هفته حمل‌ونقل", "--tag", "هفته حمل و نقل",
            "--id", "cli-1", "--redis-url", redis_url, "--prefix", prefix]  # fmt: skip
    code, output = await asyncio.to_thread(invoke, *args)
    assert code == 0, output
    assert json.loads(output)["item_id"] == "cli-1"
    [(_, fields)] = await redis.xrange(f"{prefix}:items")
    assert json.loads(fields[b"data"]) == {
        "id": "cli-1", "agency": "khz-roads", "text": "آغاز هفته حمل‌ونقل", "tags": ["هفته حمل و نقل"],
        "media": [], "overrides": {}, "amplify": True, "priority": "normal",
    }  # fmt: skip


def test_publish_refuses_an_invalid_item_before_sending() -> None:
    code, output = invoke(
        "publish", "--agency", "Not A Slug", "--text", "x", "--redis-url", "redis://127.0.0.1:1/0"
    )
    assert code == 2 and "agency" in output
