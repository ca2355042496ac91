"""The report from the records database gives the same document as `compute` on the same rows:
the table cases of tests/unit/test_report_compute.py and a generated network, loaded into PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reach.report import Filters, Rows, compute
from services.reach.report.model import FailureRow, ItemRow, PostRow, Snapshot
from services.reach.report.sql import report_from_records
from services.records import database
from services.records.repository import Records
from tests.unit.test_report_compute import AMPLIFIED, CASES, NAMES, NOON

# Until the SQL reader computes the council report's sections (trends, rankings, failed_items…),
# `hamafza report` reads Redis (services/reach/report/read.py) and this parity check is known to fail.
pytestmark = pytest.mark.xfail(
    strict=True, reason="the SQL reader lacks the council report's new sections; the report still reads Redis"
)

METRIC_NAMES = ("audience", "impressions", "likes", "reposts", "replies", "quotes", "views")


async def load(records: Records, rows: Rows) -> None:
    """The rows as the recorder would have written them."""
    prefix, moment = records.prefix, NOON
    await records.add_items(
        [
            {
                "prefix": prefix,
                "id": item.item_id,
                "agency": item.agency,
                "campaign": item.campaign,
                "text": item.text,
                "document": {"id": item.item_id},
                "entry_id": None,
                "received_at": item.received or NOON,
            }
            for item in rows.items
        ]
    )
    deliveries: list[dict[str, Any]] = []
    for item in rows.items:
        for post in item.posts:
            deliveries.append(_delivery(prefix, item, post.delivery_id, post.agency, post.origin_agency,
                                        post.platform, post.action, "posted", moment))  # fmt: skip
        for failure in item.failures:
            _, _agency, platform, action = failure.delivery_id.rsplit("/", 3)
            deliveries.append(_delivery(prefix, item, failure.delivery_id, failure.agency, item.agency,
                                        platform, action, "dead", moment))  # fmt: skip
    await records.add_results(deliveries)
    latest = [
        {
            "prefix": prefix,
            "delivery_id": delivery_id,
            "taken_at": moment,
            **{name: getattr(snapshot, name, None) for name in METRIC_NAMES},
        }
        for delivery_id, snapshot in rows.snapshots.items()
    ]
    series = [
        {**row, "offset_label": "1h", "item_id": "-", "agency": "-", "platform": "-", "account": "-"}
        for row in latest
    ]
    await records.add_snapshots(series, latest, [])
    await records.add_audiences(
        [
            {
                "prefix": prefix,
                "platform": platform,
                "agency": agency,
                "audience": audience,
                "taken_at": moment,
            }
            for (platform, agency), audience in rows.audiences.items()
        ]
    )


def _delivery(prefix: str, item: ItemRow, delivery_id: str, agency: str, origin: str, platform: str,
              action: str, state: str, moment: datetime) -> dict[str, Any]:  # fmt: skip
    return {
        "prefix": prefix, "id": delivery_id, "item_id": item.item_id, "agency": agency, "origin_agency": origin,
        "platform": platform, "action": action, "campaign": item.campaign, "state": state,
        "reason": None if state == "posted" else "retries_exhausted", "post_id": "1" if state == "posted" else None,
        "chat": None, "url": None, "source_agency": None, "source_post_id": None, "attempts": 1,
        "finished_at": moment, "recorded_at": moment,
    }  # fmt: skip


def generated(seed: int, items: int = 60) -> Rows:
    """A province: agencies amplifying each other on three platforms, some measured, some failed."""
    chance = random.Random(seed)
    agencies = [f"agency-{n}" for n in range(6)]
    platforms = ["x", "telegram", "bale"]
    built: list[ItemRow] = []
    snapshots: dict[str, Snapshot] = {}
    for n in range(items):
        origin = chance.choice(agencies)
        item_id = f"i{n:03d}"
        posts: list[PostRow] = []
        failures: list[FailureRow] = []
        for platform in chance.sample(platforms, chance.randint(1, 3)):
            posts.append(
                PostRow(f"{item_id}/{origin}/{platform}/publish", origin, origin, platform, "publish")
            )
            for partner in chance.sample([a for a in agencies if a != origin], chance.randint(0, 3)):
                delivery_id = f"{item_id}/{partner}/{platform}/forward"
                if chance.random() < 0.1:
                    failures.append(FailureRow(delivery_id, partner))
                else:
                    posts.append(PostRow(delivery_id, partner, origin, platform, "forward"))
        for post in posts:
            if chance.random() < 0.5:
                snapshots[post.delivery_id] = Snapshot(
                    audience=chance.choice([None, chance.randint(10, 5000)]),
                    impressions=chance.randint(0, 900), likes=chance.randint(0, 50),
                )  # fmt: skip
        received = NOON + timedelta(hours=chance.randint(-72, 72))
        built.append(ItemRow(item_id, origin, chance.choice([None, "water", "roads"]), f"text {n}",
                             received, tuple(posts), tuple(failures)))  # fmt: skip
    audiences = {
        (p, a): chance.randint(1, 3000) for p in platforms for a in agencies if chance.random() < 0.7
    }
    return Rows(items=tuple(built), snapshots=snapshots, audiences=audiences)


@pytest.fixture
async def fresh(database_url: str) -> Any:
    opened: list[Records] = []

    def make() -> Records:
        records = Records(database.make_engine(database_url, pool_size=1), f"sql-{uuid.uuid4().hex[:10]}")
        opened.append(records)
        return records

    yield make
    for records in opened:
        await records.aclose()


async def same(records: Records, rows: Rows, filters: Filters, **options: Any) -> None:
    expected = compute(rows, filters=filters, agency_names=NAMES, generated_at=NOON, **options).to_dict()
    found = await report_from_records(
        records, filters=filters, agency_names=NAMES, generated_at=NOON, **options
    )
    assert found.to_dict() == expected


@pytest.mark.parametrize(("rows", "filters"), [case[1:3] for case in CASES], ids=[c[0] for c in CASES])
async def test_the_table_cases(fresh: Any, rows: Rows, filters: Filters) -> None:
    records = fresh()
    await load(records, rows)
    await same(records, rows, filters)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_generated_province_under_every_filter(fresh: Any, seed: int) -> None:
    rows = generated(seed)
    records = fresh()
    await load(records, rows)
    day = NOON.astimezone(UTC).date()
    for filters in (
        Filters(),
        Filters(campaign="water"),
        Filters(agency="agency-2"),
        Filters(since=day, until=day + timedelta(days=1)),
        Filters(since=day - timedelta(days=1), campaign="roads", agency="agency-0"),
    ):
        await same(records, rows, filters, top=7, calendar="gregorian")


async def test_amplified_with_top_one(fresh: Any) -> None:
    records = fresh()
    await load(records, AMPLIFIED)
    await same(records, AMPLIFIED, Filters(), top=1)
