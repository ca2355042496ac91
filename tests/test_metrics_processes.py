"""Several worker processes on one host: one port per process by default, and prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR) where any one port serves the sum of all of them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from sandbox import RunningSandbox
from tests.support.harness import wait_for
from tests.support.sandbox_network import x_telegram_network
from tests.test_metrics import AGENCIES, samples, scrape, total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("multiprocess", [False, True], ids=["port-per-process", "multiprocess-dir"])
async def test_two_worker_processes_count_every_delivery_once(
    multiprocess: bool, sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    config = tmp_path / "network.yaml"
    document = x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0.0, 0.2))
    config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    ports = [free_port(), free_port()]
    environment = {**os.environ, "HAMAFZA_LOG_FORMAT": "json", "HAMAFZA_CLAIM_IDLE_MS": "2000"}
    if multiprocess:
        (tmp_path / "prometheus").mkdir()
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    processes = [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "services", "run", "all", "--config", str(config)],
            *["--redis-url", redis_url, "--prefix", prefix],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**environment, "HAMAFZA_METRICS_PORT": str(port)},
        )
        for port in ports
    ]
    try:

        async def both_ready() -> bool:
            try:
                return all([(await scrape(f"http://127.0.0.1:{p}/readyz"))[0] == 200 for p in ports])
            except OSError:
                return False

        await wait_for(both_ready, timeout=60, what="both processes to be ready")
        for number in range(6):
            agency = list(AGENCIES)[number % 2]
            item = {"id": f"mp-{number}", "agency": agency, "text": f"خبر شماره {number} از {agency}"}
            await redis.xadd(f"{prefix}:items", {"data": json.dumps(item, ensure_ascii=False)})
        expected = 6 * 2 * 2  # items × platforms × (own post + the partner's amplification)

        async def all_posted() -> bool:
            return len(sandbox.sandbox.posts) >= expected

        await wait_for(all_posted, timeout=60, what="every post")
        await asyncio.sleep(0.5)  # outcomes recorded after the platform answered
        scraped = [samples((await scrape(f"http://127.0.0.1:{p}/metrics"))[1]) for p in ports]
        per_port = [total(found, "hamafza_deliveries_total", outcome="posted") for found in scraped]
        if multiprocess:
            # Either port answers for every process on the host.
            assert per_port == [expected, expected]
        else:
            # Each port answers for its own process; Prometheus sums the targets.
            assert sum(per_port) == expected
        assert len(sandbox.sandbox.posts) == expected
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=60)
