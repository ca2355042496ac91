"""The pipeline's own guarantees, end to end through a real Redis and the real workers.

The platform is the in-memory adapter of tests/support, so these tests are about fan-out,
amplification, the ledger and dead letters, not about any one platform's HTTP API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from schemas import DeadReason
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import dead_letters, item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_idle, xadd_fields
from tests.support.memory_platform import ERRORS, MemoryPlatform

AGENCIES = ("khz-roads", "khz-rail", "khz-ports")


def network_document() -> dict[str, Any]:
    return {
        "agencies": {
            name: {
                "name": f"اداره {name}",
                "accounts": {"memory": {"handle": name, "token": f"secret-{name}"}},
            }
            for name in AGENCIES
        },
        "networks": {
            "khz-transport": {
                "members": list(AGENCIES),
                "amplify": {"memory": "forward"},
                "delay_seconds": [0, 0.2],
            },
        },
    }


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    network = parse_network(network_document(), registry)
    settings = Settings(
        prefix=prefix,
        claim_idle_ms=300,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
        scheduler_interval_seconds=0.05,
        max_attempts=3,
    )
    built = build_runtime(network, redis_url, settings, registry)
    yield built


def platform(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def test_one_xadd_posts_once_and_every_partner_amplifies_once(runtime: Runtime, redis: Redis) -> None:
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "tw-1", "agency": "khz-roads", "text": "آغاز هفته حمل‌ونقل"}),
        )
        await wait_idle(workers)
    posts = platform(runtime).posts
    assert sorted((handle, d.action.value) for handle, d in posts) == [
        ("khz-ports", "forward"),
        ("khz-rail", "forward"),
        ("khz-roads", "publish"),
    ]
    statuses = await item_deliveries(redis, runtime.keys, "tw-1")
    assert {s.state for s in statuses} == {"posted"} and len(statuses) == 3
    forwards = [d for _, d in posts if d.action.value == "forward"]
    assert all(d.source is not None and d.source.agency == "khz-roads" for d in forwards)
    assert all(not d.amplify for d in forwards)  # amplifications are never amplified again


async def test_the_same_item_sent_twice_is_posted_once(runtime: Runtime, redis: Redis) -> None:
    async with running(runtime) as workers:
        for _ in range(2):
            await redis.xadd(
                runtime.keys.items, xadd_fields({"id": "dup-1", "agency": "khz-rail", "text": "خبر"})
            )
        await wait_idle(workers)
    assert len(platform(runtime).posts) == 3


async def test_an_item_without_id_gets_one_stable_across_redelivery(runtime: Runtime, redis: Redis) -> None:
    entry_id = (
        await redis.xadd(runtime.keys.items, xadd_fields({"agency": "khz-ports", "text": "بدون شناسه"}))
    ).decode()
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert {d.item_id for _, d in platform(runtime).posts} == {f"e{entry_id}"}


@pytest.mark.parametrize(
    ("fields", "reason", "words"),
    [
        ({"data": "not json"}, DeadReason.INVALID_ENTRY, "not JSON"),
        ({"data": b"\xff\xfe"}, DeadReason.INVALID_ENTRY, "not JSON"),
        ({"text": "no data field"}, DeadReason.INVALID_ENTRY, "no `data` field"),
        ({"data": "[1, 2]"}, DeadReason.INVALID_ENTRY, "JSON object"),
        ({"data": '{"agency": "khz-roads"}'}, DeadReason.INVALID_ENTRY, "text: Field required"),
        (
            {"data": '{"agency": "khz-roads", "text": "x", "platfroms": ["x"]}'},
            DeadReason.INVALID_ENTRY,
            "platfroms",
        ),
        ({"data": '{"agency": "nobody", "text": "x"}'}, DeadReason.UNKNOWN_AGENCY, "nobody"),
        (
            {"data": '{"agency": "khz-roads", "text": "x", "platforms": ["myspace"]}'},
            DeadReason.UNKNOWN_PLATFORM,
            "myspace",
        ),
        (
            {"data": '{"agency": "khz-roads", "text": "' + "ب" * 201 + '"}'},
            DeadReason.CONTENT_TOO_LONG,
            "limit of 200",
        ),
    ],
)
async def test_bad_entries_become_dead_letters_and_the_worker_goes_on(
    runtime: Runtime, redis: Redis, fields: dict[str, Any], reason: DeadReason, words: str
) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, fields)
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "after", "agency": "khz-roads", "text": "بعدی"})
        )
        await wait_idle(workers)
    letters = [letter for _, letter in await dead_letters(redis, runtime.keys)]
    assert [letter.reason for letter in letters] == [reason]
    assert words in letters[0].detail
    assert len(platform(runtime).posts) == 3  # the good item after it still went everywhere


async def test_retryable_failures_are_retried_then_posted_once(runtime: Runtime, redis: Redis) -> None:
    platform(runtime).failures = [ERRORS["retryable"](), ERRORS["retryable"]()]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "r1", "agency": "khz-roads", "text": "تلاش دوباره", "amplify": False}),
        )
        await wait_idle(workers)
    assert len(platform(runtime).posts) == 1
    [status] = await item_deliveries(redis, runtime.keys, "r1")
    assert (status.state, status.attempts) == ("posted", 3)


async def test_retries_end_in_a_dead_letter(runtime: Runtime, redis: Redis) -> None:
    platform(runtime).failures = [ERRORS["retryable"]() for _ in range(5)]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "r2", "agency": "khz-roads", "text": "x", "amplify": False}),
        )
        await wait_idle(workers)
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert (letter.reason, letter.attempts, letter.platform) == (DeadReason.RETRIES_EXHAUSTED, 3, "memory")
    assert platform(runtime).posts == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [("auth", DeadReason.AUTH_FAILED), ("permanent", DeadReason.CONTENT_REJECTED)],
)
async def test_final_errors_dead_letter_without_retry(
    runtime: Runtime, redis: Redis, error: str, reason: DeadReason
) -> None:
    platform(runtime).failures = [ERRORS[error]()]
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "f1", "agency": "khz-roads", "text": "x"}))
        await wait_idle(workers)
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is reason and letter.attempts == 1
    assert platform(runtime).posts == []  # nothing posted, so nothing amplified


async def test_a_sent_but_unanswered_post_is_never_sent_again(runtime: Runtime, redis: Redis) -> None:
    memory = platform(runtime)
    memory.commit_then_fail = True
    memory.failures = [ERRORS["ambiguous"]()]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "a1", "agency": "khz-roads", "text": "x", "amplify": False}),
        )
        await wait_idle(workers)
    assert len(memory.posts) == 1
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.UNCONFIRMED and "Check the account" in letter.detail


async def test_rate_limit_pauses_the_account_then_posts(runtime: Runtime, redis: Redis) -> None:
    platform(runtime).failures = [ERRORS["rate_limited"]()]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "rl", "agency": "khz-roads", "text": "x", "amplify": False}),
        )
        await wait_idle(workers)
    [status] = await item_deliveries(redis, runtime.keys, "rl")
    assert (status.state, status.attempts) == ("posted", 1)  # waiting for a rate limit is no failed attempt
