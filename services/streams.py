"""Every Redis stream Hamafza writes, and the consumer groups that read it: the source of the AsyncAPI
document (`schemas.asyncapi`), served at `/asyncapi.json` and written by `hamafza docs`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas import DeadLetter, Delivery, Item, Result
from schemas.asyncapi import Channel, asyncapi_document
from services.governance.approvals import Approval
from services.keys import Keys
from services.pipeline import amplify, deliver, fanout
from services.reach import collect as reach
from services.reach.snapshots import ReachDue, ReachSnapshot


def channels(keys: Keys, platforms: Sequence[str] = ()) -> list[Channel]:
    return [
        Channel(
            "items",
            keys.items,
            "item",
            Item,
            "What agencies publish (XADD, HTTP, webhooks, feeds).",
            (fanout.GROUP,),
        ),
        Channel(
            "deliveries",
            keys.deliveries("{platform}"),
            "delivery",
            Delivery,
            "One stream per platform.",
            (deliver.GROUP,),
            {"platform": tuple(platforms)},
        ),
        Channel(
            "results",
            keys.results,
            "result",
            Result,
            "What was posted or dead-lettered; amplify and reach read it.",
            (amplify.GROUP, reach.GROUP),
        ),
        Channel("dead", keys.dead, "deadLetter", DeadLetter, "Dead letters, each with an actionable reason."),
        Channel(
            "reachDue",
            keys.reach.due,
            "reachDue",
            ReachDue,
            "Snapshot requests, released by the scheduler from the reach schedule when due.",
            (reach.GROUP,),
        ),
        Channel(
            "reachSnapshots",
            keys.reach.snapshots,
            "reachSnapshot",
            ReachSnapshot,
            "Every metrics snapshot taken (docs/report.md).",
        ),
        Channel(
            "approvals",
            keys.approvals_events,
            "approval",
            Approval,
            "Every approval's change of state (services/governance).",
        ),
    ]


def document(keys: Keys, platforms: Sequence[str] = ()) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every stream under `keys.prefix`."""
    return asyncapi_document(channels(keys, platforms))
