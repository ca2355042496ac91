"""Issue 16 on the streams: one owner per item id, and hostile entries dead-lettered on the first
attempt with a reason naming the problem (not five crashes over five minutes, then `poison`)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from schemas import DeadReason
from services.ops.status import dead_letters
from services.runtime import Runtime
from tests.support.harness import running, wait_idle, xadd_fields
from tests.test_pipeline import platform, runtime

__all__ = ["runtime"]  # the fixture

DEEP = '{"agency": "khz-roads", "text": "t", "tags": ' + "[" * 10_000 + "]" * 10_000 + "}"
LONG_NUMBER = '{"agency": "khz-roads", "text": "t", "attempt": ' + "9" * 5_000 + "}"


async def test_another_agency_cannot_take_an_id_on_the_stream(runtime: Runtime, redis: Redis) -> None:
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "own-1", "agency": "khz-roads", "text": "اصل"})
        )
        await wait_idle(workers)
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "own-1", "agency": "khz-rail", "text": "جعل"})
        )
        # a replay by the owner is still the owner's (and posts nothing twice)
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "own-1", "agency": "khz-roads", "text": "اصل"})
        )
        await wait_idle(workers)
    [(_, letter)] = await dead_letters(redis, runtime.keys)
    assert letter.reason is DeadReason.ID_TAKEN
    assert (letter.item_id, letter.agency, letter.attempts) == ("own-1", "khz-rail", 1)
    assert "khz-roads" not in letter.detail
    publications = [handle for handle, d in platform(runtime).posts if d.action.value == "publish"]
    assert publications == ["khz-roads"]
    assert (await redis.get(runtime.keys.owner("own-1"))) == b"khz-roads"
    item: dict[bytes, bytes] = await redis.hgetall(runtime.keys.item("own-1"))  # type: ignore[misc]
    assert item[b"agency"] == b"khz-roads" and item[b"text"].decode() == "اصل"


async def test_hostile_entries_are_dead_letters_on_the_first_attempt(runtime: Runtime, redis: Redis) -> None:
    keys = runtime.keys
    async with running(runtime) as workers:
        for data in (DEEP, LONG_NUMBER):
            await redis.xadd(keys.items, {"data": data})
            await redis.xadd(keys.deliveries("memory"), {"data": data})
        await redis.zadd(keys.schedule, {json.dumps({"stream": keys.items, "data": DEEP}): 0})
        await redis.zadd(keys.schedule, {"[" * 10_000: 0})
        await wait_idle(workers)
    letters = [letter for _, letter in await dead_letters(redis, keys)]
    assert len(letters) == 6, [(x.stage, x.reason.value, x.detail[:80]) for x in letters]
    for letter in letters:
        assert letter.attempts <= 1, letter  # first hand-out: no crash loop
        assert letter.reason in (DeadReason.INVALID_ENTRY, DeadReason.POISON)
    named = [letter.detail for letter in letters if letter.reason is DeadReason.INVALID_ENTRY]
    assert sum("nested too deeply" in detail for detail in named) == 3  # items, deliveries, schedule
    assert sum("number is too long" in detail for detail in named) == 2
    assert platform(runtime).posts == []
