"""The failover chaos, short: three SIGKILLs of the Redis primary while items flow, real sentinels
promoting a replica each time; nothing lost, nothing posted twice. `make chaos-failover` runs more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.failover import failover_table, run_failover
from tests.chaos.run import ChaosConfig


@pytest.mark.slow
async def test_three_sentinel_failovers_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        items=40,
        workers=2,
        kills=0,
        redis_restarts=0,
        faults=False,
        publish_seconds=14.0,
        seed=20261202,
        platform_timeout_seconds=2.0,
        idle_timeout_seconds=150.0,
        run_dir=tmp_path / "failover",
    )
    report = await run_failover(config, failovers=3)
    summary = failover_table(report) + "\n" + json.dumps(report, ensure_ascii=False, default=str)
    assert report["failovers"] >= 3, summary
    assert report["lost"] == 0, summary
    assert report["duplicated"] == 0, summary
    assert report["unexplained_records"] == 0, summary
    assert not report["idle"]["timed_out"], summary
    assert report["posted"] > 0 and report["items"] == 40, summary
