"""Dead letters are for people: each can be listed, read, replayed once fixed, or purged, and a
replay goes through the ledger, so it can never post twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from schemas import DeadReason
from services.app import build_runtime
from services.cli import app
from services.config import parse_network
from services.ops.dlq import DeadLetters
from services.ops.status import item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_idle, xadd_fields
from tests.support.memory_platform import ERRORS, MemoryPlatform
from tests.test_pipeline import network_document

REGISTRY: dict[str, Any] = {"memory": MemoryPlatform}


def make_runtime(redis_url: str, prefix: str, document: dict[str, Any] | None = None) -> Runtime:
    settings = Settings(prefix=prefix, claim_idle_ms=300, backoff_base_seconds=0.02, backoff_cap_seconds=0.05,
                        scheduler_interval_seconds=0.05, max_attempts=2)  # fmt: skip
    network = parse_network(document or network_document(), REGISTRY)
    return build_runtime(network, redis_url, settings, REGISTRY)


def memory(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def publish(runtime: Runtime, redis: Redis, item: dict[str, Any]) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers)


async def replay(runtime: Runtime, redis: Redis, *, force: bool = False) -> dict[str, int]:
    letters = DeadLetters(redis, runtime.keys)
    report = await letters.replay(await letters.select(), force=force)
    async with running(runtime) as workers:
        await wait_idle(workers)
    return dict(report.outcomes)


async def test_a_fixed_network_file_lets_an_unknown_agency_be_replayed(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    document = network_document()
    newcomer = document["agencies"].pop("khz-ports")
    document["networks"]["khz-transport"]["members"].remove("khz-ports")
    before = make_runtime(redis_url, prefix, document)
    await publish(before, redis, {"agency": "khz-ports", "text": "بندر", "amplify": False})
    [(_, letter)] = await DeadLetters(redis, before.keys).select()
    assert letter.reason is DeadReason.UNKNOWN_AGENCY and letter.item_id is not None

    document["agencies"]["khz-ports"] = newcomer
    after = make_runtime(redis_url, prefix, document)
    assert await replay(after, redis) == {"replayed": 1}
    [(_, posted)] = memory(after).posts
    assert posted.item_id == letter.item_id  # the same item, under the id it was first given
    assert await DeadLetters(redis, after.keys).select() == []


async def test_exhausted_retries_are_replayed_once_the_platform_is_back(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(redis_url, prefix)
    memory(runtime).failures = [ERRORS["retryable"](), ERRORS["retryable"]()]
    await publish(runtime, redis, {"id": "down", "agency": "khz-roads", "text": "x", "amplify": False})
    [(_, letter)] = await DeadLetters(redis, runtime.keys).select()
    assert letter.reason is DeadReason.RETRIES_EXHAUSTED

    assert await replay(runtime, redis) == {"replayed": 1}
    assert len(memory(runtime).posts) == 1
    [status] = await item_deliveries(redis, runtime.keys, "down")
    assert status.state == "posted"


async def test_unconfirmed_needs_force_and_force_posts_once(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(redis_url, prefix)
    memory(runtime).failures = [ERRORS["ambiguous"]()]  # raised before anything was recorded
    await publish(runtime, redis, {"id": "lost", "agency": "khz-roads", "text": "x", "amplify": False})
    [(_, letter)] = await DeadLetters(redis, runtime.keys).select()
    assert letter.reason is DeadReason.UNCONFIRMED

    assert await replay(runtime, redis) == {"needs_force": 1}
    assert memory(runtime).posts == []
    assert await replay(runtime, redis, force=True) == {"replayed": 1}
    assert len(memory(runtime).posts) == 1


async def test_replaying_a_letter_of_a_posted_delivery_posts_nothing(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(redis_url, prefix)
    memory(runtime).failures = [ERRORS["retryable"](), ERRORS["retryable"]()]
    await publish(runtime, redis, {"id": "twice", "agency": "khz-roads", "text": "x", "amplify": False})
    letters = DeadLetters(redis, runtime.keys)
    [(letter_id, letter)] = await letters.select()
    await letters.replay([(letter_id, letter)])
    async with running(runtime) as workers:
        await wait_idle(workers)
    # A second copy of the same letter (an operator's script ran twice) finds the delivery posted.
    copy_id = (await redis.xadd(runtime.keys.dead, {"data": letter.model_dump_json()})).decode()
    report = await letters.replay([(copy_id, letter)])
    assert dict(report.outcomes) == {"already_posted": 1}
    assert len(memory(runtime).posts) == 1


@pytest.mark.parametrize("as_json", [True, False])
async def test_cli_lists_and_purges(redis_url: str, prefix: str, redis: Redis, as_json: bool) -> None:
    runtime = make_runtime(redis_url, prefix)
    await publish(runtime, redis, {"agency": "nobody", "text": "x"})
    runner = CliRunner(env={"COLUMNS": "250"})
    # The CLI runs its own event loop, so it runs in a thread of its own here.
    listing = await asyncio.to_thread(
        runner.invoke,
        app,
        ["dlq", "list", "--redis-url", redis_url, "--prefix", prefix, *(["--json"] if as_json else [])],
    )
    assert listing.exit_code == 0, listing.output
    if as_json:
        [row] = [json.loads(line) for line in listing.output.splitlines()]
        assert row["reason"] == "unknown_agency" and row["agency"] == "nobody" and row["attempts"] == 1
        assert {"id", "item_id", "detail", "stage"} <= row.keys()
    else:
        assert "unknown_agency" in listing.output
    purged = await asyncio.to_thread(
        runner.invoke, app, ["dlq", "purge", "--all", "--redis-url", redis_url, "--prefix", prefix]
    )
    assert purged.exit_code == 0 and "purged 1" in purged.output
    assert await DeadLetters(redis, runtime.keys).select() == []
