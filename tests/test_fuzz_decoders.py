"""Property (issue 16): every stream decoder turns any entry into an outcome on its first hand-out.

Hypothesis feeds each consumer of each stream (fan-out on items, deliver on deliveries, amplify and
reach on results) and the schedule's release with arbitrary and hostile entries: random bytes,
random JSON, JSON nested 10,000 deep, 5,000-digit numbers, megabyte strings, and near-valid
messages with one thing wrong. The real handlers run against a real Redis on the in-memory
platform. The property: no handler raises, and every entry is acknowledged (handled or
dead-lettered) on its first hand-out, never left to crash again; nothing stays in the schedule.
Bounded (few examples, no deadline) so the whole file runs in seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Action, Delivery, DeliveryState, PostRef, Result
from services.app import build_runtime
from services.config import parse_network
from services.pipeline.amplify import Amplify
from services.pipeline.consumer import Entry
from services.pipeline.deliver import Deliver
from services.pipeline.fanout import FanOut
from services.pipeline.ledger import Ledger
from services.pipeline.schedule import Schedule
from services.reach.collect import Reach
from services.runtime import Runtime, Settings, now
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import AGENCIES, network_document

T = TypeVar("T")
pytestmark = pytest.mark.slow
Fields = dict[bytes, bytes]
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)

HOSTILE = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a": ' + b"9" * 5_000 + b"}",
    b'{"text": "' + b"x" * 1_100_000 + b'"}',
    b'{"agency": "khz-roads", "text": "t", "tags": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b"\xff\xfe\x00",
    b"",
    b"null",
    b'"just a string"',
    b"1e999999",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def delivery_document(action: Action = Action.PUBLISH) -> dict[str, Any]:
    item_id = "fz-d"
    return Delivery(
        id=Delivery.make_id(item_id, "khz-roads", "memory", action),
        item_id=item_id,
        agency="khz-roads",
        platform="memory",
        action=action,
        origin_agency="khz-roads",
        text="خبر",
        amplify=False,
    ).model_dump(mode="json")


def result_document() -> dict[str, Any]:
    delivery = Delivery.model_validate(delivery_document())
    post = PostRef(platform="memory", agency="khz-roads", post_id="1", url="memory://khz-roads/1")
    return Result(delivery=delivery, state=DeliveryState.POSTED, post=post, at=now()).model_dump(mode="json")


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A valid message, or one with one field replaced by something hostile or wrong."""
    document = json.loads(json.dumps(base))
    if draw(st.booleans()):
        key = draw(st.sampled_from(sorted(document)))
        document[key] = draw(json_values | st.sampled_from([10**50, "ب" * 30_000, [[[[[]]]]], "\u202e"]))
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


def entries(base: dict[str, Any]) -> st.SearchStrategy[Fields]:
    data = (
        st.sampled_from(HOSTILE) | near_valid(base) | st.builds(lambda v: json.dumps(v).encode(), json_values)
    )
    return st.one_of(
        st.builds(lambda raw: {b"data": raw}, data),
        st.builds(lambda raw: {b"data": raw}, data),
        st.dictionaries(st.binary(min_size=1, max_size=6), st.binary(max_size=30), min_size=1, max_size=2),
        st.builds(lambda raw: {b"__data__": raw}, st.binary(max_size=60)),
    )


class Harness:
    """The real services in an event loop of their own thread, one runtime for the whole module."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        registry: dict[str, Any] = {"memory": MemoryPlatform}
        settings_ = Settings(prefix=prefix, claim_idle_ms=60_000, max_attempts=2)
        self.runtime: Runtime = self.run(self._build(redis_url, settings_, registry))

    async def _build(self, redis_url: str, settings_: Settings, registry: dict[str, Any]) -> Runtime:
        runtime = build_runtime(parse_network(network_document(), registry), redis_url, settings_, registry)
        ledger = Ledger(runtime.redis, runtime.keys)
        self.fanout = FanOut(runtime, ledger)
        self.deliver = Deliver(runtime, ledger)
        self.amplify = Amplify(runtime, ledger)
        self.reach = Reach(runtime)
        return runtime

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    async def entry(self, stream: str, group: str, fields: Fields) -> Entry:
        redis = self.runtime.redis
        await redis.xgroup_create(stream, group, id="$", mkstream=True) if not await self._has(
            stream, group
        ) else None
        await redis.xadd(stream, fields)  # type: ignore[arg-type]
        [[_, [(entry_id, read)]]] = await redis.xreadgroup(group, "fuzzer", {stream: ">"}, count=1)
        return Entry(stream, group, entry_id.decode(), dict(read), 1)

    async def _has(self, stream: str, group: str) -> bool:
        try:
            groups = await self.runtime.redis.xinfo_groups(stream)
        except Exception:
            return False
        return any(g["name"] in (group, group.encode()) for g in groups)

    async def pending(self, stream: str, group: str) -> int:
        return int((await self.runtime.redis.xpending(stream, group))["pending"])

    async def feed(self, stream: str, group: str, fields: Fields, handler: Any) -> int:
        entry = await self.entry(stream, group, fields)
        outcome = handler(entry)
        if isinstance(outcome, Awaitable):
            await outcome
        if group == "deliver":  # deliver runs its calls in background tasks
            await self.deliver.in_flight.drain(timeout=30)
        return await self.pending(stream, group)

    def close(self) -> None:
        async def cleanup() -> None:
            redis = self.runtime.redis
            keys = [key async for key in redis.scan_iter(match=f"{self.runtime.keys.prefix}:*", count=1000)]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

        self.run(cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def harness(redis_url: str) -> Iterator[Harness]:
    import uuid

    built = Harness(redis_url, f"test-{uuid.uuid4().hex[:12]}")
    yield built
    built.close()


def test_fanout_decodes_any_item_entry_on_the_first_hand_out(harness: Harness) -> None:
    base = {"agency": AGENCIES[0], "text": "خبر", "amplify": False}

    @FUZZ
    @given(entries(base))
    def prop(fields: Fields) -> None:
        seen.append(1)
        keys = harness.runtime.keys
        assert harness.run(harness.feed(keys.items, "fanout", fields, harness.fanout.handle_entry)) == 0

    seen: list[int] = []
    prop()
    assert len(seen) >= 20  # the property was checked, not skipped


def test_deliver_decodes_any_delivery_entry_on_the_first_hand_out(harness: Harness) -> None:
    @FUZZ
    @given(entries(delivery_document()))
    def prop(fields: Fields) -> None:
        seen.append(1)
        stream = harness.runtime.keys.deliveries("memory")
        assert harness.run(harness.feed(stream, "deliver", fields, harness.deliver.handle_entry)) == 0

    seen: list[int] = []
    prop()
    assert len(seen) >= 20  # the property was checked, not skipped


def test_amplify_and_reach_decode_any_result_entry_on_the_first_hand_out(harness: Harness) -> None:
    @FUZZ
    @given(entries(result_document()))
    def prop(fields: Fields) -> None:
        seen.append(1)
        keys = harness.runtime.keys
        assert harness.run(harness.feed(keys.results, "amplify", fields, harness.amplify.handle_entry)) == 0
        assert (
            harness.run(
                harness.feed(keys.results, "reach", fields, lambda e: harness.reach.handle_results([e]))
            )
            == 0
        )

    seen: list[int] = []
    prop()
    assert len(seen) >= 20  # the property was checked, not skipped


def test_the_schedule_releases_or_dead_letters_any_member(harness: Harness) -> None:
    schedule = Schedule(harness.runtime.keys.schedule)

    @FUZZ
    @given(
        st.sampled_from(HOSTILE).map(lambda raw: raw.decode("utf-8", "replace"))
        | st.builds(
            lambda v: json.dumps({"stream": harness.runtime.keys.items, "data": json.dumps(v)}), json_values
        )
        | st.text(max_size=50)
    )
    def prop(member: str) -> None:
        seen.append(1)
        redis, keys = harness.runtime.redis, harness.runtime.keys

        async def release() -> int:
            await redis.zadd(keys.schedule, {member: 0})
            await schedule.bring_forward(redis, keys.deliveries("memory"), lambda data: True)
            await schedule.release_due(redis, keys.dead)
            return int(await redis.zcard(keys.schedule))

        assert harness.run(release()) == 0

    seen: list[int] = []
    prop()
    assert len(seen) >= 20  # the property was checked, not skipped
