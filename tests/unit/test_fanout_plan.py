"""FanOut.plan: one item → one publish delivery per platform, or the reason it cannot be; no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import Action, DeadReason, Item
from services.app import build_runtime
from services.config import parse_network
from services.pipeline.fanout import FanOut
from services.pipeline.ledger import Ledger
from services.runtime import Settings
from tests.support.memory_platform import MemoryPlatform


class OtherPlatform(MemoryPlatform):
    platform = "other"
    text_limit = 10


REGISTRY: dict[str, Any] = {"memory": MemoryPlatform, "other": OtherPlatform}
NETWORK = {
    "agencies": {
        "roads": {"name": "راه", "accounts": {"memory": {"handle": "roads"}, "other": {"handle": "r"}}},
        "rail": {"name": "راه‌آهن", "accounts": {"memory": {"handle": "rail"}}},
    }
}


@pytest.fixture
def fanout() -> FanOut:
    # A Redis client that never connects: planning must not touch it.
    runtime = build_runtime(parse_network(NETWORK, REGISTRY), "redis://127.0.0.1:1", Settings(), REGISTRY)
    return FanOut(runtime, Ledger(runtime.redis, runtime.keys))


def refusals(plan: Any) -> list[tuple[str, DeadReason]]:
    return [(delivery.platform, reason) for delivery, reason, _ in plan.refusals]


@pytest.mark.parametrize(
    ("item", "queued", "refused"),
    [
        (Item(id="a", agency="roads", text="کوتاه"), ["memory", "other"], []),
        (
            Item(id="b", agency="roads", text="متنی بلندتر از ده نویسه"),
            ["memory"],
            [("other", DeadReason.CONTENT_TOO_LONG)],
        ),
        (
            Item(id="c", agency="rail", text="کوتاه", platforms=["other"]),
            [],
            [("other", DeadReason.NO_ACCOUNT)],
        ),
        (
            Item(id="d", agency="rail", text="کوتاه", platforms=["nowhere", "memory", "memory"]),
            ["memory"],
            [("nowhere", DeadReason.UNKNOWN_PLATFORM)],
        ),
    ],
    ids=["every account", "too long for one", "no account", "unknown platform, duplicates once"],
)
def test_plan(fanout: FanOut, item: Item, queued: list[str], refused: list[tuple[str, DeadReason]]) -> None:
    plan = fanout.plan(item)
    assert [delivery.platform for delivery in plan.deliveries] == queued
    assert refusals(plan) == refused
    for delivery in plan.deliveries:
        assert delivery.id == f"{item.id}/{item.agency}/{delivery.platform}/publish"
        assert delivery.action is Action.PUBLISH and delivery.origin_agency == item.agency
        assert delivery.text  # rendered by the platform's adapter


def test_a_refusal_says_what_to_fix(fanout: FanOut) -> None:
    plan = fanout.plan(Item(id="e", agency="rail", text="کوتاه", platforms=["other"]))
    [(_, _, detail)] = plan.refusals
    assert detail == "agency 'rail' has no other account in the network file"
