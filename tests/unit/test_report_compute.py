"""`compute`, the synergy report's arithmetic, as a table: rows in, figures out, no Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.reach.report import Filters, Rows, compute
from services.reach.report.model import (
    ApprovalRow,
    AudiencePoint,
    FailureRow,
    ItemRow,
    Note,
    PostRow,
    Snapshot,
)

NAMES = {"roads": "راه و شهرسازی"}  # from the network file: an agency with no items still gets a row
NOON = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)  # 12:00 in Tehran, 1 Farvardin 1404


def post(item: str, agency: str, platform: str = "x", action: str = "publish", origin: str = "") -> PostRow:
    return PostRow(f"{item}/{agency}/{platform}/{action}", agency, origin or agency, platform, action)


def item(
    item_id: str,
    agency: str,
    *posts: PostRow,
    campaign: str | None = None,
    received: datetime | None = NOON,
    failures: tuple[FailureRow, ...] = (),
) -> ItemRow:
    return ItemRow(item_id, agency, campaign, f"text of {item_id}", received, posts, failures)


def measured(audience: int | None, impressions: int | None = None, likes: int | None = None) -> Snapshot:
    return Snapshot(audience=audience, impressions=impressions, likes=likes)


# roads publishes on X and Telegram; rail retweets and forwards it; ports quotes it.
R1_X, R1_TG = post("r1", "roads"), post("r1", "roads", "telegram")
R1_RT = post("r1", "rail", "x", "repost", "roads")
R1_FW = post("r1", "rail", "telegram", "forward", "roads")
R1_QT = post("r1", "ports", "x", "quote", "roads")
AMPLIFIED = Rows(
    items=(item("r1", "roads", R1_X, R1_TG, R1_RT, R1_FW, R1_QT),),
    snapshots={
        R1_X.delivery_id: measured(1000, impressions=500, likes=20),
        R1_QT.delivery_id: measured(300, impressions=40, likes=1),
    },
    audiences={("telegram", "roads"): 200, ("x", "rail"): 700, ("telegram", "rail"): 50},
)

CASES: list[tuple[str, Rows, Filters, dict[str, Any]]] = [
    (
        "one measured own post, nobody amplifies: isolated",
        Rows(
            items=(item("a1", "roads", post("a1", "roads")),),
            snapshots={"a1/roads/x/publish": measured(900, 70, 5)},
        ),
        Filters(),
        {
            "totals.items": 1,
            "totals.own_posts": 1,
            "totals.amplifications": 0,
            "totals.potential_reach": 900,
            "totals.impressions": 70,
            "totals.likes": 5,
            "totals.isolated_items": 1,
            "totals.isolation": 1.0,
            "totals.measured_posts": 1,
            "agencies.0.own_posts": {"x": 1},
            "agencies.0.isolation": 1.0,
            "top_items.0.received_date": "1404-01-01",
        },
    ),
    (
        "own posts and three amplifications: who amplified whom, and the reach they added",
        AMPLIFIED,
        Filters(),
        {
            "totals.own_posts": 2,
            "totals.amplifications": 3,
            # audience: snapshot's, else the account's latest, else 0 (ports' quote has its snapshot)
            "totals.potential_reach": 1000 + 200 + 700 + 50 + 300,
            "totals.amplification_reach": 700 + 50 + 300,
            "totals.impressions": 540,
            "totals.measured_posts": 2,
            "totals.unmeasured_posts": 3,
            "totals.isolation": 0.0,
            # ranked, not alphabetical: the most amplified first, then the most amplifying
            "matrix.agencies": ["roads", "rail", "ports"],
            "matrix.counts": [[0, 0, 0], [2, 0, 0], [1, 0, 0]],
            "agencies.0.agency": "roads",
            "agencies.0.own_posts": {"telegram": 1, "x": 1},
            "agencies.0.own_posts_total": 2,
            "agencies.0.own_potential_reach": 1200,
            "agencies.0.amplifications_received": {
                "count": 3,
                "by": {"ports": 1, "rail": 2},
                "potential_reach": 1050,
            },
            "agencies.0.potential_reach": 2250,
            "agencies.0.engagement.impressions": 500,
            "agencies.1.amplifications_given": {"count": 2, "to": {"roads": 2}, "potential_reach": 750},
            "agencies.2.engagement.impressions": 40,  # a quote is the quoting agency's post
            "platforms.0.platform": "x",  # the busiest platform first
            "platforms.0.accounts": 3,
            "platforms.0.own_posts": 1,
            "platforms.0.amplifications": 2,
            "platforms.1.potential_reach": 250,
            # engagement per platform, never summed under one platform
            "agencies.0.engagement_by_platform": {
                "x": {"impressions": 500, "likes": 20, "reposts": 0, "replies": 0, "quotes": 0}
            },
            "rankings.most_amplified.0.agency": "roads",
            "rankings.most_amplifying.0": {"agency": "rail", "name": "rail", "value": 2},
            "top_items.0.amplified_by": ["ports", "rail"],
            "top_items.0.amplifications": 3,
            "top_items.0.platforms": ["telegram", "x"],
        },
    ),
    (
        "a partner publishing another agency's item is an amplification, not an own post",
        Rows(items=(item("c1", "roads", post("c1", "rail", "x", "publish", "roads")),)),
        Filters(),
        {"totals.own_posts": 0, "totals.amplifications": 1, "matrix.counts": [[0, 0], [1, 0]]},
    ),
    (
        "a dead delivery is charged to the agency that was to post it",
        Rows(
            items=(
                item("d1", "roads", post("d1", "roads"), failures=(FailureRow("d1/rail/x/repost", "rail"),)),
            )
        ),
        Filters(),
        {"totals.failed": 1, "agencies.0.agency": "rail", "agencies.0.failed": 1, "agencies.1.failed": 0},
    ),
    (
        "campaign filter",
        Rows(items=(item("w1", "water", post("w1", "water"), campaign="water"), AMPLIFIED.items[0])),
        Filters(campaign="water"),
        {"totals.items": 1, "filters.campaign": "water", "top_items.0.item_id": "w1"},
    ),
    (
        "agency filter keeps the items it published or amplified, and its row only",
        Rows(items=(*AMPLIFIED.items, item("w1", "water", post("w1", "water")))),
        Filters(agency="rail"),
        {
            "totals.items": 1,
            "agencies.#": 1,
            "agencies.0.agency": "rail",
            "agencies.0.amplifications_given.count": 2,
            "matrix.agencies": ["roads", "rail", "ports"],  # everyone in a pair it shows
        },
    ),
    (
        "days are Tehran days: 21:00 UTC on 20 March is already 1 Farvardin",
        Rows(
            items=(
                item("late", "roads", received=datetime(2025, 3, 20, 21, 0, tzinfo=UTC)),
                item("early", "roads", received=datetime(2025, 3, 20, 20, 0, tzinfo=UTC)),
            )
        ),
        Filters(since=date(2025, 3, 21), until=date(2025, 3, 21)),
        {"totals.items": 1, "top_items.0.item_id": "late", "filters.since": "1404-01-01"},
    ),
    (
        "no items: isolation is unknown, named agencies still get a row",
        Rows(),
        Filters(),
        {
            "totals.items": 0,
            "totals.isolation": None,
            "agencies.0.name": "راه و شهرسازی",
            "agencies.0.isolation": None,
            "matrix.counts": [[0]],
        },
    ),
]


def lookup(document: Any, path: str) -> Any:
    for part in path.split("."):
        if part == "#":
            return len(document)
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


@pytest.mark.parametrize(
    ("rows", "filters", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_compute(rows: Rows, filters: Filters, expected: dict[str, Any]) -> None:
    document = compute(rows, filters=filters, agency_names=NAMES, generated_at=NOON).to_dict()
    for path, value in expected.items():
        assert lookup(document, path) == value, path


def test_top_items_by_reach_then_impressions_then_id() -> None:
    a, b, c = post("a", "roads"), post("b", "roads"), post("c", "roads")
    rows = Rows(
        items=(item("a", "roads", a), item("b", "roads", b), item("c", "roads", c)),
        snapshots={
            a.delivery_id: measured(10, 1),
            b.delivery_id: measured(10, 5),
            c.delivery_id: measured(20, 0),
        },
    )
    report = compute(rows, top=2, generated_at=NOON)
    assert [i.item_id for i in report.top_items] == ["c", "b"]


def test_calendar_writes_days_and_filters() -> None:
    rows = Rows(items=(item("a", "roads"),))
    jalali = compute(rows, filters=Filters(since=date(2025, 3, 21)), generated_at=NOON).to_dict()
    gregorian = compute(
        rows, filters=Filters(since=date(2025, 3, 21)), calendar="gregorian", generated_at=NOON
    )
    assert (
        jalali["filters"]["since"] == "1404-01-01" and jalali["top_items"][0]["received_date"] == "1404-01-01"
    )
    assert gregorian.to_dict()["top_items"][0]["received_date"] == "2025-03-21"
    assert gregorian.calendar == "gregorian"


def test_the_json_keys_are_those_of_docs_report_md() -> None:
    document = compute(AMPLIFIED, generated_at=NOON).to_dict()
    assert list(document) == [
        "schema", "generated_at", "calendar", "filters", "totals", "agencies", "matrix", "platforms", "top_items",
        "responsiveness", "trends", "campaigns", "rankings", "outcomes",
    ]  # fmt: skip
    assert document["schema"] == "hamafza.report/1"
    assert set(document["totals"]) == {
        "items", "own_posts", "amplifications", "failed", "impressions", "likes", "reposts", "replies", "quotes",
        "potential_reach", "amplification_reach", "isolated_items", "isolation", "measured_posts", "unmeasured_posts",
        "failed_items",
    }  # fmt: skip
    assert set(document["agencies"][0]) == {
        "agency", "name", "items", "own_posts", "own_posts_total", "amplifications_received",
        "amplifications_given", "engagement", "own_potential_reach", "potential_reach", "isolated_items",
        "isolation", "failed", "failed_items", "engagement_by_platform", "first_amplification_seconds", "channels",
        "coverage",
    }  # fmt: skip
    assert set(document["platforms"][0]) == {
        "platform", "title", "accounts", "own_posts", "amplifications", "impressions", "likes", "reposts",
        "replies", "quotes", "potential_reach",
    }  # fmt: skip
    assert set(document["top_items"][0]) == {
        "item_id", "agency", "name", "campaign", "text", "received_at", "received_date", "platforms",
        "own_posts", "amplifications", "amplified_by", "potential_reach", "impressions", "likes", "reposts",
        "replies", "quotes",
    }  # fmt: skip
    assert set(document["responsiveness"]) == {
        "first_amplification_seconds", "median_amplification_seconds", "amplified_items", "approvals_granted",
        "approvals_declined", "approvals_expired", "approvals_awaiting", "intents_requested",
    }  # fmt: skip
    assert set(document["trends"]) == {"month", "week", "followers"}


def timed(item_id: str, agency: str, origin: str, seconds: float, platform: str = "x") -> PostRow:
    return PostRow(
        f"{item_id}/{agency}/{platform}/repost",
        agency,
        origin,
        platform,
        "repost",
        at=NOON + timedelta(seconds=seconds),
    )


def test_an_item_posted_nowhere_is_failed_not_isolated() -> None:
    # The case: an agency whose only item failed showed «جزیره‌ای بودن ۱۰۰٪».
    rows = Rows(
        items=(
            item("f1", "water", failures=(FailureRow("f1/water/x/publish", "water"),)),
            item("p1", "roads", post("p1", "roads")),
        )
    )
    report = compute(rows, generated_at=NOON)
    water = next(a for a in report.agencies if a.agency == "water")
    assert (water.items, water.failed_items, water.isolated_items, water.isolation) == (1, 1, 0, None)
    assert report.totals.failed_items == 1 and report.totals.isolated_items == 1
    assert report.totals.isolation == 1.0  # the one posted item nobody amplified


def test_views_stay_with_their_platform() -> None:
    # An agency with no X account: its Instagram likes never appear under X.
    own_ig, own_x = post("i1", "culture", "instagram"), post("x1", "roads", "x")
    rows = Rows(
        items=(item("i1", "culture", own_ig), item("x1", "roads", own_x)),
        snapshots={own_ig.delivery_id: measured(5000, 800, 950), own_x.delivery_id: measured(100, 60, 3)},
    )
    by_agency = {a.agency: a.to_dict() for a in compute(rows, generated_at=NOON).agencies}
    assert by_agency["culture"]["engagement_by_platform"] == {
        "instagram": {"impressions": 800, "likes": 950, "reposts": 0, "replies": 0, "quotes": 0}
    }
    assert set(by_agency["roads"]["engagement_by_platform"]) == {"x"}


def test_time_to_amplification_and_approvals() -> None:
    # r1: amplified after 60 s and 600 s; r2: after 120 s; r3: never. First delays 60, 120 → median 90.
    rows = Rows(
        items=(
            item(
                "r1",
                "roads",
                post("r1", "roads"),
                timed("r1", "rail", "roads", 600),
                timed("r1", "ports", "roads", 60),
            ),
            item("r2", "roads", post("r2", "roads"), timed("r2", "rail", "roads", 120)),
            item("r3", "rail", post("r3", "rail")),
        ),
        approvals=(
            ApprovalRow("r1.rail", "r1", "rail", "roads", "approved"),
            ApprovalRow("r1.ports", "r1", "ports", "roads", "approved"),
            ApprovalRow("r2.ports", "r2", "ports", "roads", "declined"),
            ApprovalRow("r3.roads", "r3", "roads", "rail", "expired"),
            ApprovalRow("r3.ports", "r3", "ports", "rail", "awaiting_approval"),
            ApprovalRow("r3/ports/x/intent", "r3", "ports", "rail", "requested", kind="intent"),
            ApprovalRow("z.rail", "z", "rail", "water", "approved"),  # an item not selected
        ),
    )
    document = compute(rows, generated_at=NOON).to_dict()
    assert document["responsiveness"] == {
        "first_amplification_seconds": 90.0,
        "median_amplification_seconds": 120.0,  # of 60, 120, 600
        "amplified_items": 2,
        "approvals_granted": 2,
        "approvals_declined": 1,
        "approvals_expired": 1,
        "approvals_awaiting": 1,
        "intents_requested": 1,
    }
    by_agency = {a["agency"]: a for a in document["agencies"]}
    assert by_agency["roads"]["first_amplification_seconds"] == 90.0
    assert by_agency["rail"]["first_amplification_seconds"] is None  # its item was never amplified


def test_trends_by_jalali_month_and_week_campaigns_and_notes() -> None:
    # 1404-01-01 was a Friday: its week began on Saturday 1403-12-25; 1404-01-02 (Saturday) starts the next.
    friday, saturday = NOON, NOON + timedelta(days=1)
    rows = Rows(
        items=(
            item("a", "roads", post("a", "roads"), timed("a", "rail", "roads", 30), campaign="nowruz"),
            item("b", "roads", post("b", "roads"), campaign="nowruz", received=saturday),
            item(
                "c",
                "rail",
                post("c", "rail"),
                campaign="water",
                received=datetime(2025, 3, 19, 8, tzinfo=UTC),
            ),
        ),
        notes={
            "nowruz": Note("nowruz", "سفرهای نوروزی بی‌حادثه‌تر از پارسال", friday),
            "other": Note("other", "not in this report", friday),
        },
    )
    document = compute(rows, generated_at=NOON).to_dict()
    months = {p["period"]: p["items"] for p in document["trends"]["month"]}
    weeks = {p["period"]: p["items"] for p in document["trends"]["week"]}
    assert months == {"1403-12": 1, "1404-01": 2}
    assert weeks == {"1403-12-25": 2, "1404-01-02": 1}
    nowruz, water = document["campaigns"]
    assert (nowruz["campaign"], nowruz["items"], nowruz["amplifications"], nowruz["isolation"]) == (
        "nowruz",
        2,
        1,
        0.5,
    )
    assert nowruz["first_amplification_seconds"] == 30.0 and nowruz["note"].startswith("سفرهای")
    assert water["campaign"] == "water" and water["note"] is None
    assert [o["campaign"] for o in document["outcomes"]] == ["nowruz"]
    assert [r["agency"] for r in document["rankings"]["least_isolated"]] == ["roads", "rail"]


def test_channel_coverage_and_followers_by_jalali_month() -> None:
    rows = Rows(
        items=(item("a", "roads", post("a", "roads", "x")),),
        audience_history=(
            AudiencePoint("x", "roads", NOON - timedelta(days=2), 900),  # Esfand 1403
            AudiencePoint("x", "roads", NOON - timedelta(days=1), 950),  # Esfand 1403, later: wins
            AudiencePoint("x", "roads", NOON, 1000),  # Farvardin 1404
        ),
    )
    document = compute(
        rows, agency_channels={"roads": ["x", "telegram"], "rail": ["x"]}, generated_at=NOON
    ).to_dict()
    by_agency = {a["agency"]: a for a in document["agencies"]}
    assert (by_agency["roads"]["channels"], by_agency["roads"]["coverage"]) == (["telegram", "x"], 0.5)
    assert by_agency["rail"]["coverage"] == 0.0  # a channel, and nothing posted on it
    assert document["trends"]["followers"] == [
        {"agency": "roads", "platform": "x", "period": "1403-12", "audience": 950},
        {"agency": "roads", "platform": "x", "period": "1404-01", "audience": 1000},
    ]
