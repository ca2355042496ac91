"""`hamafza run all` runs the HTTP API in a process of its own: an item POSTed to it is posted by the
workers, each process serves its own /metrics, and SIGTERM stops both."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import yaml
from redis.asyncio import Redis

from sandbox import RunningSandbox
from services.ingress.tokens import new_token, token_sha256
from tests.support.harness import wait_for
from tests.support.sandbox_network import x_telegram_network
from tests.test_metrics import AGENCIES, samples, scrape, total
from tests.test_metrics_processes import free_port


async def test_run_all_serves_the_api_from_its_own_process(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    token = new_token()
    document = x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0.0, 0.2))
    document["agencies"]["khz-roads"]["ingest"] = {"api_token_sha256": token_sha256(token)}
    config = tmp_path / "network.yaml"
    config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    api_port, metrics_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "services", "run", "all", "--config", str(config), "--redis-url", redis_url],
        *["--prefix", prefix, "--port", str(api_port)],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "HAMAFZA_METRICS_PORT": str(metrics_port), "HAMAFZA_LOG_FORMAT": "json"},
    )
    api, workers = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}"
    try:

        async def both_ready() -> bool:
            try:
                return (await scrape(f"{api}/readyz"))[0] == 200 and (await scrape(f"{workers}/readyz"))[
                    0
                ] == 200
            except OSError:
                return False

        await wait_for(both_ready, timeout=60, what="the API and the workers to be ready")
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{api}/v1/items",
                json={"text": "آغاز هفته حمل‌ونقل", "amplify": False},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status == 202, await response.text()

        async def posted() -> bool:
            return len(sandbox.sandbox.posts) >= 2  # khz-roads on X and Telegram

        await wait_for(posted, timeout=60, what="the item to be posted")
        await asyncio.sleep(0.3)
        worker_metrics = samples((await scrape(f"{workers}/metrics"))[1])
        api_metrics = samples((await scrape(f"{api}/metrics"))[1])
        assert total(worker_metrics, "hamafza_deliveries_total", outcome="posted") == 2
        # The API's own process counted no delivery: it is not the workers' process.
        assert total(api_metrics, "hamafza_deliveries_total", outcome="posted") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=90) == 0
    try:
        await scrape(f"{api}/healthz")
    except aiohttp.ClientError:
        pass  # the API's process stopped with `run all`
    else:
        raise AssertionError("the API still answers after `run all` stopped")
