"""The synergy report's arithmetic: a pure function of typed rows, tested without Redis.

Definitions (docs/report.md): an *own post* is a posted `publish` of the item's own agency, every other
posted delivery an *amplification* by a partner; a post's *potential reach* is the audience of the
account that posted it (its latest snapshot's, else the account's latest known audience); engagement
sums each post's latest snapshot; a posted item nobody amplified is *isolated*, an item posted
nowhere (every delivery failed) is *failed*, counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.reach.report import cycle
from services.reach.report.cycle import Cycle, ItemFacts, median_or_none
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
    agency_channels: Mapping[str, Sequence[str]] | None = None,
) -> Report:
    """`agency_channels`: each agency's platforms in the network file, for the coverage of its channels."""
    filters = filters or Filters()
    names = dict(agency_names or {})
    chosen = sorted(
        (item for item in rows.items if selected(item, filters)),
        key=lambda item: (item.received or datetime.min.replace(tzinfo=UTC), item.item_id),
    )
    tally = _Tally(rows, names, dict(platform_titles or {}), calendar)
    for item in chosen:
        tally.add(item)
    for agency, channels in (agency_channels or {}).items():
        tally.agency(agency).channels = sorted(channels)
    everyone = list(tally.agencies.values())
    for row in everyone:
        row.first_amplification_seconds = median_or_none(
            d for f in tally.facts if f.agency == row.agency and (d := f.first_delay) is not None
        )
    platforms = sorted(
        tally.platforms.values(), key=lambda p: (-(p.own_posts + p.amplifications), p.platform)
    )
    tally.items.sort(key=lambda i: (-i.potential_reach, -i.engagement.impressions, i.item_id))
    agencies = sorted(
        (
            tally.agency(agency)
            for agency in set(tally.agencies) | set(names)
            if filters.agency is None or agency == filters.agency
        ),
        key=_rank,
    )
    chosen_ids = {item.item_id for item in chosen}
    months, weeks = cycle.trends(tally.facts)
    campaign_names = {item.campaign for item in chosen if item.campaign} | (
        {filters.campaign} if filters.campaign else set()
    )
    notes = {name: note for name, note in rows.notes.items() if name in campaign_names}
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
            failed_items=sum(a.failed_items for a in everyone),
        ),
        agencies=agencies,
        matrix=tally.matrix(filters.agency, [a.agency for a in sorted(tally.agencies.values(), key=_rank)]),
        platforms=platforms,
        top_items=tally.items[:top],
        cycle=Cycle(
            responsiveness=cycle.responsiveness(
                tally.facts,
                ((a.kind, a.state) for a in rows.approvals if a.item_id in chosen_ids),
            ),
            months=months,
            weeks=weeks,
            campaigns=cycle.campaigns(tally.facts, {k: n.text for k, n in notes.items()}),
            rankings=cycle.rankings(
                [
                    (
                        a.agency,
                        a.name,
                        a.amplifications_received.count,
                        a.amplifications_given.count,
                        a.isolation,
                    )
                    for a in agencies
                ]
            ),
            followers=cycle.followers(
                (p.agency, p.platform, p.at, p.audience)
                for p in rows.audience_history
                if filters.agency is None or p.agency == filters.agency
            ),
            outcomes=[
                {"campaign": n.campaign, "text": n.text, "at": n.at.isoformat()}
                for n in sorted(notes.values(), key=lambda n: n.campaign)
            ],
        ),
    )


def _rank(row: AgencyRow) -> tuple[int, int, int, str]:
    """Ranked, not alphabetical: most amplified first, then most amplifying, then furthest reach."""
    return (
        -row.amplifications_received.count,
        -row.amplifications_given.count,
        -row.potential_reach,
        row.agency,
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
    facts: list[ItemFacts] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # the current item's amplification delays
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
        self.delays = []
        for post in item.posts:
            self._post(post, summary)
            if not post.own and post.at is not None and item.received is not None:
                self.delays.append(max(0.0, (post.at - item.received).total_seconds()))
        summary.platforms.sort()
        for failure in item.failures:
            self.agency(failure.agency).failed += 1
        facts = ItemFacts(
            agency=item.agency,
            campaign=item.campaign,
            received=item.received,
            own_posts=summary.own_posts,
            amplifications=summary.amplifications,
            potential_reach=summary.potential_reach,
            delays=tuple(sorted(self.delays)),
            failed_item=not item.posts,
        )
        origin.failed_items += facts.failed_item
        origin.isolated_items += facts.isolated
        self.facts.append(facts)
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
            by_platform = who.engagement_by_platform.setdefault(post.platform, Engagement())
            for engagement in (who.engagement, summary.engagement, platform.engagement, by_platform):
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

    def matrix(self, only: str | None, ranked: list[str]) -> Matrix:
        if only is None:
            wanted = set(self.agencies) | set(self.names)
        else:
            wanted = {agency for pair in self.pairs for agency in pair} | {only}
        order = [a for a in ranked if a in wanted] + sorted(wanted - set(ranked))
        return Matrix(
            agencies=order,
            names={agency: self.names.get(agency, agency) for agency in order},
            counts=[[self.pairs[(row, column)] for column in order] for row in order],
        )
