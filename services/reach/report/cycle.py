"""The report's sections after the evaluation cycle that are not per agency or per platform:
responsiveness of the network, trends by Jalali week and month, campaigns side by side, rankings and
the council's outcome notes. Pure: built from per-item facts that `compute` gathers.

Definitions (docs/report.md): an item's *first amplification delay* is the time from its receipt to
its first partner's post; the *median amplification delay* is the median over every amplification's
delay; approvals are counted by their latest state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

import jdatetime

from services.reach.report.days import TEHRAN


@dataclass(frozen=True)
class ItemFacts:
    """What the cycle sections need of one selected item."""

    agency: str
    campaign: str | None
    received: datetime | None
    own_posts: int
    amplifications: int
    potential_reach: int
    delays: tuple[float, ...]  # seconds from receipt to each amplification, in posting order
    failed_item: bool  # posted nowhere: every delivery failed

    @property
    def isolated(self) -> bool:
        return not self.failed_item and self.amplifications == 0

    @property
    def first_delay(self) -> float | None:
        return min(self.delays) if self.delays else None


def median_or_none(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(float(median(values)), 1) if values else None


@dataclass
class Responsiveness:
    first_amplification_seconds: float | None = None  # median over amplified items
    median_amplification_seconds: float | None = None  # median over every amplification
    amplified_items: int = 0
    approvals_granted: int = 0
    approvals_declined: int = 0
    approvals_expired: int = 0
    approvals_awaiting: int = 0
    intents_requested: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Period:
    """One Jalali month (`1404-05`) or week (`1404-05-04`, the Saturday it starts on)."""

    period: str
    items: int = 0
    own_posts: int = 0
    amplifications: int = 0
    isolated_items: int = 0
    failed_items: int = 0
    potential_reach: int = 0

    def add(self, facts: ItemFacts) -> None:
        self.items += 1
        self.own_posts += facts.own_posts
        self.amplifications += facts.amplifications
        self.isolated_items += facts.isolated
        self.failed_items += facts.failed_item
        self.potential_reach += facts.potential_reach

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CampaignRow(Period):
    """A campaign's figures (the `period` field holds its name), its delay and the council's note."""

    first_amplification_seconds: float | None = None
    note: str | None = None

    @property
    def isolation(self) -> float | None:
        posted = self.items - self.failed_items
        return round(self.isolated_items / posted, 4) if posted else None

    def to_dict(self) -> dict[str, Any]:
        row = super().to_dict()
        return {"campaign": row.pop("period"), **row, "isolation": self.isolation}


@dataclass
class Ranked:
    agency: str
    name: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Cycle:
    responsiveness: Responsiveness = field(default_factory=Responsiveness)
    months: list[Period] = field(default_factory=list)
    weeks: list[Period] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    rankings: dict[str, list[Ranked]] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # {campaign, text, at}
    followers: list[dict[str, Any]] = field(default_factory=list)  # {agency, platform, period, audience}

    def to_dict(self) -> dict[str, Any]:
        return {
            "responsiveness": self.responsiveness.to_dict(),
            "trends": {
                "month": [p.to_dict() for p in self.months],
                "week": [p.to_dict() for p in self.weeks],
                "followers": self.followers,
            },
            "campaigns": [c.to_dict() for c in self.campaigns],
            "rankings": {key: [r.to_dict() for r in rows] for key, rows in self.rankings.items()},
            "outcomes": self.outcomes,
        }


def jalali_month(day: date) -> str:
    jalali = jdatetime.date.fromgregorian(date=day)
    return f"{jalali.year:04d}-{jalali.month:02d}"


def jalali_week(day: date) -> str:
    """The Iranian week starts on Saturday; a week is named by the Jalali date of its Saturday."""
    saturday = day - timedelta(days=(day.weekday() - 5) % 7)
    jalali = jdatetime.date.fromgregorian(date=saturday)
    return f"{jalali.year:04d}-{jalali.month:02d}-{jalali.day:02d}"


def responsiveness(facts: Sequence[ItemFacts], approvals: Iterable[tuple[str, str]]) -> Responsiveness:
    """`approvals`: (kind, latest state) of each approval or intent of the selected items."""
    out = Responsiveness(
        first_amplification_seconds=median_or_none(d for f in facts if (d := f.first_delay) is not None),
        median_amplification_seconds=median_or_none(d for f in facts for d in f.delays),
        amplified_items=sum(1 for f in facts if f.amplifications),
    )
    counters = {
        ("approval", "approved"): "approvals_granted",
        ("approval", "declined"): "approvals_declined",
        ("approval", "expired"): "approvals_expired",
        ("approval", "awaiting_approval"): "approvals_awaiting",
        ("intent", "requested"): "intents_requested",
    }
    for kind, state in approvals:
        counter = counters.get((kind, state))
        if counter is not None:
            setattr(out, counter, getattr(out, counter) + 1)
    return out


def trends(facts: Sequence[ItemFacts]) -> tuple[list[Period], list[Period]]:
    months: dict[str, Period] = {}
    weeks: dict[str, Period] = {}
    for f in facts:
        if f.received is None:
            continue
        day = f.received.astimezone(TEHRAN).date()
        months.setdefault(jalali_month(day), Period(jalali_month(day))).add(f)
        weeks.setdefault(jalali_week(day), Period(jalali_week(day))).add(f)
    return [months[k] for k in sorted(months)], [weeks[k] for k in sorted(weeks)]


def followers(points: Iterable[tuple[str, str, datetime, int]]) -> list[dict[str, Any]]:
    """(agency, platform, at, audience) → each account's last audience in each Jalali month."""
    last: dict[tuple[str, str, str], tuple[datetime, int]] = {}
    for agency, platform, at, audience in points:
        key = (agency, platform, jalali_month(at.astimezone(TEHRAN).date()))
        if key not in last or at >= last[key][0]:
            last[key] = (at, audience)
    return [
        {"agency": agency, "platform": platform, "period": period, "audience": audience}
        for (agency, platform, period), (_at, audience) in sorted(last.items())
    ]


def campaigns(facts: Sequence[ItemFacts], notes: Mapping[str, str]) -> list[CampaignRow]:
    rows: dict[str, CampaignRow] = {}
    delays: dict[str, list[float]] = {}
    for f in facts:
        if f.campaign is None:
            continue
        rows.setdefault(f.campaign, CampaignRow(f.campaign)).add(f)
        if f.first_delay is not None:
            delays.setdefault(f.campaign, []).append(f.first_delay)
    for name, row in rows.items():
        row.first_amplification_seconds = median_or_none(delays.get(name, ()))
        row.note = notes.get(name)
    return sorted(rows.values(), key=lambda r: (-r.amplifications, -r.items, r.period))


def rankings(
    rows: Sequence[tuple[str, str, int, int, float | None]], top: int = 5
) -> dict[str, list[Ranked]]:
    """`rows`: (agency, name, amplifications received, amplifications given, isolation)."""
    received = sorted((r for r in rows if r[2]), key=lambda r: (-r[2], r[0]))
    given = sorted((r for r in rows if r[3]), key=lambda r: (-r[3], r[0]))
    isolation = sorted((r for r in rows if r[4] is not None), key=lambda r: (r[4] or 0.0, r[0]))
    return {
        "most_amplified": [Ranked(r[0], r[1], r[2]) for r in received[:top]],
        "most_amplifying": [Ranked(r[0], r[1], r[3]) for r in given[:top]],
        "least_isolated": [Ranked(r[0], r[1], r[4] or 0.0) for r in isolation[:top]],
    }
