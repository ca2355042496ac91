"""The synergy report from the records database, with the database doing the sums.

The same definitions as `compute` (docs/report.md), expressed as three aggregate queries over the
items of the selected period: posted deliveries grouped by (poster, origin, platform, own), items
grouped by their agency (items, isolated ones), and the top items; plus dead deliveries per agency.
Only aggregates leave the database, so the time grows with the rows of the selected period (the
`ix_items_period` and `ix_deliveries_item` indexes), not with the whole table. `tests/test_report_sql.py`
checks that it gives the same document as `compute` on the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import text

from services.reach.report.days import TEHRAN, iso_day
from services.reach.report.model import (
    METRICS,
    AgencyRow,
    Engagement,
    FilterEcho,
    Filters,
    ItemSummary,
    Matrix,
    PlatformRow,
    Report,
    Snapshot,
    Totals,
)
from services.records.repository import Records

_SELECTED = """
sel AS MATERIALIZED (
  SELECT i.id, i.agency FROM items i
  WHERE i.prefix = :prefix
    AND (CAST(:campaign AS text) IS NULL OR i.campaign = :campaign)
    AND (CAST(:since AS timestamptz) IS NULL OR i.received_at >= :since)
    AND (CAST(:until AS timestamptz) IS NULL OR i.received_at < :until)
    AND (CAST(:agency AS text) IS NULL OR i.agency = :agency OR EXISTS (
      SELECT 1 FROM deliveries other
      WHERE other.prefix = :prefix AND other.item_id = i.id AND other.state = 'posted'
        AND other.agency = :agency))
)"""

_OWN = "(d.action = 'publish' AND d.agency = d.origin_agency)"
_POSTED = "d.state = 'posted'"
_SUMS = ", ".join(
    f"COALESCE(sum(d.{metric}) FILTER (WHERE {_POSTED}), 0)::bigint AS {metric}" for metric in METRICS
)

# One pass over the period's deliveries: sums per (poster, origin, platform, own) and per item.
# A post's audience is its latest snapshot's, else its account's latest known one.
_GROUPS = f"""
WITH {_SELECTED}
SELECT GROUPING(d.item_id) = 0 AS per_item, d.item_id, d.agency, d.origin_agency, d.platform,
       {_OWN} AS own,
       count(*) FILTER (WHERE {_POSTED}) AS posts,
       count(*) FILTER (WHERE d.state = 'dead') AS failed,
       count(*) FILTER (WHERE {_POSTED} AND NOT {_OWN}) AS amplifications,
       COALESCE(sum(COALESCE(d.audience, a.audience, 0)) FILTER (WHERE {_POSTED}), 0)::bigint AS reach,
       count(*) FILTER (WHERE {_POSTED} AND d.measured_at IS NOT NULL) AS measured,
       {_SUMS}
FROM deliveries d
LEFT JOIN audiences a ON a.prefix = :prefix AND a.platform = d.platform AND a.agency = d.agency
WHERE d.prefix = :prefix AND d.item_received_at IS NOT NULL
  AND (CAST(:since AS timestamptz) IS NULL OR d.item_received_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR d.item_received_at < :until)
  AND {{scope}}
GROUP BY GROUPING SETS ((d.agency, d.origin_agency, d.platform, {_OWN}), (d.item_id, d.origin_agency))
"""
# Without an agency filter the period and campaign select the rows directly; with one, the items.
GROUPS_ALL = text(_GROUPS.replace("{scope}", "(CAST(:campaign AS text) IS NULL OR d.campaign = :campaign)"))
GROUPS_OF_ITEMS = text(_GROUPS.replace("{scope}", "d.item_id IN (SELECT id FROM sel)"))

ITEMS = text(f"""
WITH {_SELECTED}
SELECT agency, count(*) AS items FROM sel GROUP BY agency
""")

UNPOSTED_FIRST = text(f"""
WITH {_SELECTED}
SELECT id FROM sel WHERE NOT (id = ANY(:skip)) ORDER BY id COLLATE "C" LIMIT :top
""")

DETAILS = text("""
SELECT i.id, i.agency, i.campaign, i.text, i.received_at FROM items i
WHERE i.prefix = :prefix AND i.id = ANY(:ids)
""")

TOP_POSTS = text("""
SELECT d.item_id, d.agency, d.platform, (d.action = 'publish' AND d.agency = d.origin_agency) AS own,
       count(*) AS posts
FROM deliveries d
WHERE d.prefix = :prefix AND d.item_id = ANY(:ids) AND d.state = 'posted'
GROUP BY d.item_id, d.agency, d.platform, own
""")


def _bounds(filters: Filters) -> tuple[datetime | None, datetime | None]:
    """Tehran days, inclusive, as a half-open range of instants."""
    since = datetime.combine(filters.since, time(), TEHRAN) if filters.since else None
    until = datetime.combine(filters.until + timedelta(days=1), time(), TEHRAN) if filters.until else None
    return since, until


def _engagement(row: Any) -> Snapshot:
    return Snapshot(**{metric: int(row[metric] or 0) for metric in METRICS})


@dataclass
class _Fetched:
    groups: list[Any]
    per_item: dict[str, Any]  # item id → its sums
    per_agency: list[Any]  # items per agency
    chosen: list[str]  # the top items' ids, in order
    details: dict[str, Any]
    top_posts: list[Any]


# For this transaction only: a small table never analysed (audiences) must not turn the join into a
# nested loop over a million rows; JIT compiling costs more than it saves here; one hash in memory.
_SESSION = ("SET LOCAL enable_nestloop = off", "SET LOCAL jit = off", "SET LOCAL work_mem = '128MB'")


async def _fetch(records: Records, params: dict[str, Any], agency_filter: bool, top: int) -> _Fetched:
    async with records.engine.begin() as connection:
        for setting in _SESSION:
            await connection.execute(text(setting))
        query = GROUPS_OF_ITEMS if agency_filter else GROUPS_ALL
        rows = (await connection.execute(query, params)).mappings().all()
        per_item = [row for row in rows if row["per_item"]]
        per_agency = (await connection.execute(ITEMS, params)).mappings().all()
        ranked = sorted(per_item, key=lambda r: (-r["reach"], -r["impressions"], r["item_id"]))
        reached = [row["item_id"] for row in ranked if row["reach"] or row["impressions"]]
        chosen = reached[:top]
        if len(chosen) < top:  # then items of no reach, by id (as `compute` orders them)
            rest = await connection.execute(
                UNPOSTED_FIRST, {**params, "skip": reached, "top": top - len(chosen)}
            )
            chosen += [row[0] for row in rest]
        ids = {"prefix": records.prefix, "ids": chosen}
        details = {row["id"]: row for row in (await connection.execute(DETAILS, ids)).mappings()}
        top_posts = list((await connection.execute(TOP_POSTS, ids)).mappings().all())
    return _Fetched(
        groups=[row for row in rows if not row["per_item"]],
        per_item={row["item_id"]: row for row in per_item},
        per_agency=list(per_agency),
        chosen=chosen,
        details=details,
        top_posts=top_posts,
    )


@dataclass
class _Tally:
    """The report's tables from the grouped sums (the same definitions as `compute`)."""

    names: dict[str, str]
    titles: dict[str, str]
    agencies: dict[str, AgencyRow] = field(default_factory=dict)
    platforms: dict[str, PlatformRow] = field(default_factory=dict)
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    measured: int = 0
    unmeasured: int = 0
    failed: int = 0

    def agency(self, name: str) -> AgencyRow:
        if name not in self.agencies:
            self.agencies[name] = AgencyRow(agency=name, name=self.names.get(name, name))
        return self.agencies[name]

    def platform(self, name: str) -> PlatformRow:
        if name not in self.platforms:
            self.platforms[name] = PlatformRow(name, self.titles.get(name, name))
        return self.platforms[name]

    def items(self, per_agency: list[Any], per_item: dict[str, Any]) -> None:
        amplified: dict[str, int] = {}
        for row in per_item.values():
            if row["amplifications"]:
                amplified[row["origin_agency"]] = amplified.get(row["origin_agency"], 0) + 1
        for row in per_agency:
            origin = self.agency(row["agency"])
            origin.items = int(row["items"])
            origin.isolated_items = origin.items - amplified.get(row["agency"], 0)

    def add(self, row: Any) -> None:
        if row["failed"]:
            self.agency(row["agency"]).failed += int(row["failed"])
            self.failed += int(row["failed"])
        if not row["posts"]:
            return
        count, reach, snapshot = int(row["posts"]), int(row["reach"] or 0), _engagement(row)
        self.measured += int(row["measured"])
        self.unmeasured += count - int(row["measured"])
        who, platform = self.agency(row["agency"]), self.platform(row["platform"])
        platform.accounts.add(row["agency"])
        platform.potential_reach += reach
        for engagement in (who.engagement, platform.engagement):
            engagement.add(snapshot)
        if row["own"]:
            who.own_posts[row["platform"]] = who.own_posts.get(row["platform"], 0) + count
            who.own_potential_reach += reach
            platform.own_posts += count
            return
        received = self.agency(row["origin_agency"]).amplifications_received
        for side, counterpart in (
            (received, row["agency"]),
            (who.amplifications_given, row["origin_agency"]),
        ):
            side.count += count
            side.counterparts[counterpart] = side.counterparts.get(counterpart, 0) + count
            side.potential_reach += reach
        platform.amplifications += count
        pair = (row["agency"], row["origin_agency"])
        self.pairs[pair] = self.pairs.get(pair, 0) + count

    def matrix(self, only: str | None) -> Matrix:
        if only is None:
            order = sorted(set(self.agencies) | set(self.names))
        else:
            order = sorted({name for pair in self.pairs for name in pair} | {only})
        return Matrix(
            agencies=order,
            names={name: self.names.get(name, name) for name in order},
            counts=[[self.pairs.get((row, column), 0) for column in order] for row in order],
        )


async def report_from_records(
    records: Records,
    *,
    filters: Filters | None = None,
    agency_names: Mapping[str, str] | None = None,
    platform_titles: Mapping[str, str] | None = None,
    top: int = 10,
    calendar: str = "jalali",
    generated_at: datetime | None = None,
) -> Report:
    filters = filters or Filters()
    since, until = _bounds(filters)
    params: dict[str, Any] = {
        "prefix": records.prefix,
        "campaign": filters.campaign,
        "since": since,
        "until": until,
        "agency": filters.agency,
    }
    fetched = await _fetch(records, params, filters.agency is not None, top)
    tally = _Tally(dict(agency_names or {}), dict(platform_titles or {}))
    tally.items(fetched.per_agency, fetched.per_item)
    for row in fetched.groups:
        tally.add(row)
    everyone = list(tally.agencies.values())
    platform_rows = [tally.platforms[name] for name in sorted(tally.platforms)]
    return Report(
        generated_at=generated_at or datetime.now(UTC),
        calendar=calendar,
        filters=FilterEcho(
            campaign=filters.campaign,
            since=iso_day(filters.since, calendar),
            until=iso_day(filters.until, calendar),
            agency=filters.agency,
        ),
        totals=Totals(
            items=sum(int(row["items"]) for row in fetched.per_agency),
            own_posts=sum(p.own_posts for p in platform_rows),
            amplifications=sum(p.amplifications for p in platform_rows),
            failed=tally.failed,
            engagement=Engagement.total([p.engagement for p in platform_rows]),
            potential_reach=sum(p.potential_reach for p in platform_rows),
            amplification_reach=sum(a.amplifications_received.potential_reach for a in everyone),
            isolated_items=sum(a.isolated_items for a in everyone),
            measured_posts=tally.measured,
            unmeasured_posts=tally.unmeasured,
        ),
        agencies=[
            tally.agency(name)
            for name in sorted(set(tally.agencies) | set(tally.names))
            if filters.agency is None or name == filters.agency
        ],
        matrix=tally.matrix(filters.agency),
        platforms=platform_rows,
        top_items=[
            _summary(
                fetched.details[item_id],
                fetched.per_item.get(item_id),
                fetched.top_posts,
                tally.names,
                calendar,
            )
            for item_id in fetched.chosen
        ],
    )


def _summary(row: Any, sums: Any, posts: Any, names: Mapping[str, str], calendar: str) -> ItemSummary:
    mine = [post for post in posts if post["item_id"] == row["id"]]
    amplified_by: dict[str, int] = {}
    for post in mine:
        if not post["own"]:
            amplified_by[post["agency"]] = amplified_by.get(post["agency"], 0) + int(post["posts"])
    received: datetime = row["received_at"]
    return ItemSummary(
        item_id=row["id"],
        agency=row["agency"],
        name=names.get(row["agency"], row["agency"]),
        campaign=row["campaign"],
        text=row["text"],
        received_at=received,
        received_date=iso_day(received.astimezone(TEHRAN).date(), calendar),
        platforms=sorted({post["platform"] for post in mine if post["own"]}),
        own_posts=sum(int(post["posts"]) for post in mine if post["own"]),
        amplified_by=amplified_by,
        potential_reach=int(sums["reach"]) if sums else 0,
        engagement=Engagement(**{metric: int(sums[metric]) if sums else 0 for metric in METRICS}),
    )
