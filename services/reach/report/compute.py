"""The synergy report's arithmetic: a pure function of typed rows, tested without Redis.

Definitions (docs/report.md): an *own post* is a posted `publish` of the item's own agency, every other
posted delivery an *amplification* by a partner; a post's *potential reach* is the audience of the
account that posted it (its latest snapshot's, else the account's latest known audience); engagement
sums each post's latest snapshot; an item nobody amplified is *isolated*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.reach.report.days import TEHRAN, iso_day
from services.reach.report.model import (
    AgencyRow,
    Engagement,
    FilterEcho,
    Filters,
    ItemRow,
    ItemSummary,
    Matrix,
    PlatformRow,
    PostRow,
    Report,
    Rows,
    Totals,
)


def compute(
    rows: Rows,
    *,
    filters: Filters | None = None,
    agency_names: Mapping[str, str] | None = None,
    platform_titles: Mapping[str, str] | None = None,
    top: int = 10,
    calendar: str = "jalali",
    generated_at: datetime | None = None,
) -> Report:
    filters = filters or Filters()
    names = dict(agency_names or {})
    chosen = sorted(
        (item for item in rows.items if selected(item, filters)),
        key=lambda item: (item.received or datetime.min.replace(tzinfo=UTC), item.item_id),
    )
    tally = _Tally(rows, names, dict(platform_titles or {}), calendar)
    for item in chosen:
        tally.add(item)
    everyone = list(tally.agencies.values())
    platforms = [tally.platforms[name] for name in sorted(tally.platforms)]
    tally.items.sort(key=lambda i: (-i.potential_reach, -i.engagement.impressions, i.item_id))
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
            items=len(chosen),
            own_posts=sum(p.own_posts for p in platforms),
            amplifications=sum(p.amplifications for p in platforms),
            failed=sum(len(item.failures) for item in chosen),
            engagement=Engagement.total([p.engagement for p in platforms]),
            potential_reach=sum(p.potential_reach for p in platforms),
            amplification_reach=sum(a.amplifications_received.potential_reach for a in everyone),
            isolated_items=sum(a.isolated_items for a in everyone),
            measured_posts=tally.measured,
            unmeasured_posts=tally.unmeasured,
        ),
        agencies=[
            tally.agency(agency)
            for agency in sorted(set(tally.agencies) | set(names))
            if filters.agency is None or agency == filters.agency
        ],
        matrix=tally.matrix(filters.agency),
        platforms=platforms,
        top_items=tally.items[:top],
    )


def selected(item: ItemRow, filters: Filters) -> bool:
    if filters.campaign is not None and item.campaign != filters.campaign:
        return False
    day = item.received.astimezone(TEHRAN).date() if item.received else None
    if filters.since is not None and (day is None or day < filters.since):
        return False
    if filters.until is not None and (day is None or day > filters.until):
        return False
    if filters.agency is not None:
        return filters.agency in {item.agency} | {post.agency for post in item.posts}
    return True


@dataclass
class _Tally:
    """Sums over the selected items' posted and failed deliveries."""

    rows: Rows
    names: dict[str, str]
    titles: dict[str, str]
    calendar: str
    agencies: dict[str, AgencyRow] = field(default_factory=dict)
    platforms: dict[str, PlatformRow] = field(default_factory=dict)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (amplifier, origin) → count
    items: list[ItemSummary] = field(default_factory=list)
    measured: int = 0
    unmeasured: int = 0

    def audience(self, post: PostRow) -> int:
        snapshot = self.rows.snapshots.get(post.delivery_id)
        if snapshot is not None and snapshot.audience is not None:
            return snapshot.audience
        return self.rows.audiences.get((post.platform, post.agency), 0)

    def agency(self, agency: str) -> AgencyRow:
        if agency not in self.agencies:
            self.agencies[agency] = AgencyRow(agency=agency, name=self.names.get(agency, agency))
        return self.agencies[agency]

    def platform(self, platform: str) -> PlatformRow:
        if platform not in self.platforms:
            self.platforms[platform] = PlatformRow(platform, self.titles.get(platform, platform))
        return self.platforms[platform]

    def add(self, item: ItemRow) -> None:
        origin = self.agency(item.agency)
        origin.items += 1
        summary = ItemSummary(
            item_id=item.item_id,
            agency=item.agency,
            name=self.names.get(item.agency, item.agency),
            campaign=item.campaign,
            text=item.text,
            received_at=item.received,
            received_date=iso_day(item.received.astimezone(TEHRAN).date(), self.calendar)
            if item.received
            else None,
            platforms=[],
            own_posts=0,
            amplified_by={},
            potential_reach=0,
            engagement=Engagement(),
        )
        for post in item.posts:
            self._post(post, summary)
        summary.platforms.sort()
        for failure in item.failures:
            self.agency(failure.agency).failed += 1
        if not summary.amplified_by:
            origin.isolated_items += 1
        self.items.append(summary)

    def _post(self, post: PostRow, summary: ItemSummary) -> None:
        who, platform = self.agency(post.agency), self.platform(post.platform)
        platform.accounts.add(post.agency)
        reach = self.audience(post)
        summary.potential_reach += reach
        platform.potential_reach += reach
        snapshot = self.rows.snapshots.get(post.delivery_id)
        if snapshot is None:
            self.unmeasured += 1
        else:
            self.measured += 1
            for engagement in (who.engagement, summary.engagement, platform.engagement):
                engagement.add(snapshot)
        if post.own:
            who.own_posts[post.platform] = who.own_posts.get(post.platform, 0) + 1
            who.own_potential_reach += reach
            platform.own_posts += 1
            summary.own_posts += 1
            if post.platform not in summary.platforms:
                summary.platforms.append(post.platform)
            return
        self.agency(post.origin_agency).amplifications_received.add(post.agency, reach)
        who.amplifications_given.add(post.origin_agency, reach)
        platform.amplifications += 1
        self.pairs[(post.agency, post.origin_agency)] += 1
        summary.amplified_by[post.agency] = summary.amplified_by.get(post.agency, 0) + 1

    def matrix(self, only: str | None) -> Matrix:
        if only is None:
            order = sorted(set(self.agencies) | set(self.names))
        else:
            order = sorted({agency for pair in self.pairs for agency in pair} | {only})
        return Matrix(
            agencies=order,
            names={agency: self.names.get(agency, agency) for agency in order},
            counts=[[self.pairs[(row, column)] for column in order] for row in order],
        )
