"""Property: whatever lands on the items stream, no worker crashes and every entry is accounted for.

Hypothesis generates batches of arbitrary stream entries: random field names and bytes, JSON of
random shapes, and near-valid items with one thing wrong (a wrong type, an unknown field, a bad id,
a huge text, an unknown agency or platform…) next to valid ones. The real workers (in-process, on
the in-memory platform) run once for the whole test, in an event loop of their own thread; each
example XADDs its batch and waits until the workers are idle. Then:

- no `fanout.failed` / `deliver.failed` / `amplify.failed` was logged (an unexpected exception);
- nothing is left pending, so every entry was acknowledged;
- every entry that is not an item, or names an unknown agency, is a fan-out dead letter with a
  reason and a detail; every refused delivery (unknown platform, text too long) is a dead letter of
  its item and platform; every valid item is posted. No other dead letter appears.

Which entries are valid is decided with the wire format's own parser (`decode_entry`,
`schemas.Item`) and the adapter's `render`: the property is about the workers' robustness and
accounting, not a second specification of the format.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from redis.asyncio import Redis

import services.pipeline.amplify
import services.pipeline.deliver
import services.pipeline.fanout
from adapters import ContentError
from schemas import Action, Delivery, Item
from services.app import Workers, build_runtime, build_workers
from services.config import parse_network
from services.ops.status import item_deliveries
from services.runtime import BadEntry, Runtime, Settings, decode_entry, preview
from tests.support.harness import wait_idle
from tests.support.memory_platform import MemoryPlatform
from tests.test_pipeline import AGENCIES, network_document

pytestmark = pytest.mark.slow  # chaos and fuzz: `make test-fast` leaves them out

T = TypeVar("T")
FAILURES = {"fanout.failed", "deliver.failed", "amplify.failed"}
Fields = dict[bytes, bytes]


class Recorder:
    """Stands in for a service module's logger: forwards every call and keeps the event names."""

    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, level: str) -> Any:
        method = getattr(self._inner, level)

        def log(event: str, *args: Any, **kwargs: Any) -> Any:
            self._seen.append(event)
            return method(event, *args, **kwargs)

        return log


# --- strategies ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def unique_id() -> str:
    return f"fz-{uuid.uuid4().hex[:12]}"


@st.composite
def near_valid_item(draw: st.DrawFn) -> dict[str, Any]:
    """A valid item, or one with a single thing wrong."""
    item: dict[str, Any] = {
        "id": unique_id(),
        "agency": draw(st.sampled_from(AGENCIES)),
        "text": draw(st.text(min_size=1, max_size=60).filter(str.strip)),
        "amplify": draw(st.booleans()),
    }
    mutation = draw(
        st.sampled_from(
            [
                "none",
                "none",
                "no_id",
                "wrong_type",
                "unknown_field",
                "bad_id",
                "huge_text",
                "too_long_for_platform",
                "too_long_for_platform",
                "unknown_agency",
                "unknown_platform",
                "mixed_platforms",
                "no_platforms",
                "missing_field",
                "surrogate",
                "override",
                "bad_link",
            ]
        )
    )
    if mutation == "no_id":
        del item["id"]
    elif mutation == "wrong_type":
        key = draw(st.sampled_from(["agency", "text", "amplify", "tags", "media", "platforms", "id"]))
        item[key] = draw(st.sampled_from([123, 4.5, ["a"], {"a": 1}, None, "not-a-bool-or-list"]))
    elif mutation == "unknown_field":
        item[draw(st.sampled_from(["platfroms", "txt", "priority", ""]))] = draw(json_values)
    elif mutation == "bad_id":
        item["id"] = draw(st.sampled_from(["", "-leading-dash", "with space", "a/b", "é", "x" * 200]))
    elif mutation == "huge_text":
        item["text"] = "ب" * draw(st.sampled_from([20_001, 50_000]))
    elif mutation == "too_long_for_platform":
        item["text"] = "ب" * draw(st.integers(min_value=201, max_value=2_000))
    elif mutation == "unknown_agency":
        item["agency"] = draw(st.sampled_from(["nobody", "khz-unknown", "x"]))
    elif mutation == "unknown_platform":
        item["platforms"] = [draw(st.sampled_from(["myspace", "eitaa", "x"]))]
    elif mutation == "mixed_platforms":
        item["platforms"] = ["memory", "myspace", "memory"]
    elif mutation == "no_platforms":
        item["platforms"] = []
    elif mutation == "missing_field":
        del item[draw(st.sampled_from(["agency", "text"]))]
    elif mutation == "surrogate":
        item["text"] = "a\ud800b"
    elif mutation == "override":
        item["overrides"] = {"memory": {"text": draw(st.sampled_from(["کوتاه", "ب" * 300]))}}
    elif mutation == "bad_link":
        item["link"] = draw(st.sampled_from(["not a url", "https://ok.example/news/1", "ftp://x"]))
    return item


field_names = st.binary(min_size=1, max_size=8) | st.sampled_from([b"data", b"__data__", b"text", b"DATA"])
random_fields = st.dictionaries(field_names, st.binary(max_size=40), min_size=1, max_size=3)
random_json = st.builds(
    lambda name, value: {name: json.dumps(value).encode()},
    st.sampled_from([b"data", b"__data__"]),
    json_values,
)
item_entries = st.builds(
    lambda item, extra: {
        b"data": json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        **extra,
    },
    near_valid_item(),
    st.dictionaries(st.sampled_from([b"source", b"trace"]), st.binary(max_size=10), max_size=1),
)
# Near-valid items weigh most: random bytes and shapes fail the same way early on.
entries: st.SearchStrategy[Fields] = st.one_of(
    random_fields, random_json, item_entries, item_entries, item_entries
)


def _data(item: dict[str, Any]) -> Fields:
    return {b"data": json.dumps(item, ensure_ascii=False).encode()}


# One entry of every outcome, always run first, so the property is never checked vacuously.
EVERY_OUTCOME: list[Fields] = [
    {b"data": b"\xff\xfe"},
    {b"text": b"no data field"},
    _data({"agency": "nobody", "text": "x"}),
    _data({"id": "fz-fixed-1", "agency": "khz-roads", "text": "x", "platforms": ["myspace", "memory"]}),
    _data({"id": "fz-fixed-2", "agency": "khz-rail", "text": "ب" * 201}),
    _data({"id": "fz-fixed-3", "agency": "khz-ports", "text": "خبر درست"}),
]


# --- the oracle -----------------------------------------------------------------------------------


class Expected:
    def __init__(self) -> None:
        self.fanout_dead: Counter[tuple[str, str]] = Counter()  # (entry preview, reason)
        self.refused: Counter[tuple[str, str, str]] = Counter()  # (item id, platform, reason)
        self.posted: set[str] = set()  # delivery ids


def expect(runtime: Runtime, entry_id: str, fields: Fields, expected: Expected) -> None:
    try:
        item = Item.model_validate(decode_entry(fields))
    except (BadEntry, ValidationError):
        expected.fanout_dead[(preview(fields), "invalid_entry")] += 1
        return
    if item.agency not in runtime.network.agencies:
        expected.fanout_dead[(preview(fields), "unknown_agency")] += 1
        return
    item_id = item.id or f"e{entry_id}"
    for platform in dict.fromkeys(item.platforms if item.platforms is not None else ["memory"]):
        adapter = runtime.adapters.get(platform)
        if adapter is None:
            expected.refused[(item_id, platform, "unknown_platform")] += 1
            continue
        try:
            adapter.render(item)
        except ContentError:
            expected.refused[(item_id, platform, "content_too_long")] += 1
            continue
        expected.posted.add(Delivery.make_id(item_id, item.agency, platform, Action.PUBLISH))


# --- the test -------------------------------------------------------------------------------------


class Loop:
    """An event loop in a thread of its own, so the workers outlive each Hypothesis example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def start(redis_url: str, prefix: str) -> tuple[Workers, Redis]:
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    runtime = build_runtime(
        parse_network(network_document(), registry),
        redis_url,
        Settings(
            prefix=prefix,
            claim_idle_ms=1000,
            max_deliveries=3,
            backoff_base_seconds=0.05,
            backoff_cap_seconds=0.2,
            scheduler_interval_seconds=0.05,
        ),
        registry,
    )
    workers = build_workers(runtime)
    await workers.start()
    return workers, Redis.from_url(redis_url)


async def check_batch(
    workers: Workers, redis: Redis, batch: list[Fields], seen: list[str], outcomes: Counter[str]
) -> None:
    runtime, keys = workers.runtime, workers.runtime.keys
    last: Any = await redis.xrevrange(keys.dead, count=1)
    after = f"({last[0][0].decode()}" if last else "-"
    expected = Expected()
    for fields in batch:
        added: Any = await redis.xadd(keys.items, dict(fields.items()))
        entry_id = added.decode()
        expect(runtime, entry_id, fields, expected)
    await wait_idle(workers, timeout=30)

    assert not FAILURES & set(seen), [event for event in seen if event in FAILURES]
    assert (await redis.xpending(keys.items, "fanout"))["pending"] == 0
    raw: Any = await redis.xrange(keys.dead, min=after)
    letters = [decode_entry(fields) for _, fields in raw]
    assert all(letter["reason"] and letter["detail"] for letter in letters), letters
    fanout_dead = Counter(
        (letter["entry"], letter["reason"]) for letter in letters if letter.get("entry") is not None
    )
    refused = Counter(
        (letter["item_id"], letter["platform"], letter["reason"])
        for letter in letters
        if letter.get("entry") is None
    )
    assert fanout_dead == expected.fanout_dead
    assert refused == expected.refused
    outcomes.update(reason for _, reason in expected.fanout_dead.elements())
    outcomes.update(reason for _, _, reason in expected.refused.elements())
    outcomes["posted"] += len(expected.posted)
    for delivery_id in expected.posted:
        item_id = delivery_id.rsplit("/", 3)[0]
        states = {s.delivery_id: s.state for s in await item_deliveries(redis, keys, item_id)}
        assert states.get(delivery_id) == "posted", (delivery_id, states)


def test_no_stream_entry_crashes_a_worker_and_each_is_posted_or_dead_lettered(
    redis_url: str, prefix: str, monkeypatch: Any
) -> None:
    seen: list[str] = []
    outcomes: Counter[str] = Counter()
    for module in (services.pipeline.fanout, services.pipeline.deliver, services.pipeline.amplify):
        monkeypatch.setattr(module, "log", Recorder(module.log, seen))
    loop = Loop()
    workers, redis = loop.run(start(redis_url, prefix))
    try:

        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(batch=st.lists(entries, min_size=1, max_size=8))
        @example(batch=EVERY_OUTCOME)
        def property_holds(batch: list[Fields]) -> None:
            loop.run(check_batch(workers, redis, batch, seen, outcomes))

        property_holds()
        assert "item.dead_lettered" in seen  # the recorder did see the workers' log calls
        assert {"invalid_entry", "unknown_agency", "unknown_platform", "content_too_long", "posted"} <= set(
            outcomes
        ), outcomes
    finally:

        async def stop() -> None:
            await workers.stop()
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

        loop.run(stop())
        loop.close()
