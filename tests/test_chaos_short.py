"""The chaos run, short: two worker processes, two SIGKILLs, a Redis SIGKILL and restart, every
platform fault kind; nothing lost, nothing posted twice. `make chaos` runs the full size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.run import ChaosConfig, run_chaos, table

pytestmark = pytest.mark.slow  # chaos and fuzz: `make test-fast` leaves them out


async def test_a_short_chaos_run_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        items=60,
        workers=2,
        kills=2,
        redis_restarts=1,
        publish_seconds=6.0,
        seed=20260101,
        platform_timeout_seconds=2.0,  # a killed worker's lease (2 × timeout + 30 s) bounds the drain
        idle_timeout_seconds=120.0,
        run_dir=tmp_path / "chaos",
    )
    report = await run_chaos(config)
    summary = table(report) + "\n" + json.dumps(report, ensure_ascii=False, default=str)
    assert report["lost"] == 0, summary
    assert report["duplicated"] == 0, summary
    assert report["unexplained_records"] == 0, summary
    assert not report["idle"]["timed_out"], summary
    assert report["kills"] == 2 and len(report["redis_restarts"]) == 1, summary
    assert report["restart_survivors_working_after"] == report["restart_survivors_checked"], summary
    assert report["posted"] > 0 and report["items"] == 60, summary
