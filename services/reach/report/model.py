"""The synergy report's typed data: the rows it is computed from and the report it becomes.

Rows are what a store gives (today Redis, see `read.py`): items with their posted and dead deliveries,
the latest metrics of each post and the latest audience of each account. `Report` is what `compute`
makes of them; `Report.to_dict()` is the JSON document of docs/report.md (schema `hamafza.report/1`),
whose keys never change within that schema. A new section is one more field here, one more step in
`compute`, one more key in `to_dict` and, where wanted, one more renderer block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from services.reach.report.cycle import Cycle

SCHEMA = "hamafza.report/1"
METRICS = ("impressions", "likes", "reposts", "replies", "quotes")


# --- rows: what the report is computed from ----------------------------------------------------------


@dataclass(frozen=True)
class PostRow:
    """One posted delivery: `agency` posted it on `platform`, for an item of `origin_agency`."""

    delivery_id: str
    agency: str
    origin_agency: str
    platform: str
    action: str  # a `schemas.Action` value: publish, repost, forward, quote, copy…
    at: datetime | None = None  # when it was posted (the result's time)

    @property
    def own(self) -> bool:
        """The item's own agency publishing it; anything else is an amplification by a partner."""
        return self.action == "publish" and self.agency == self.origin_agency


@dataclass(frozen=True)
class FailureRow:
    """One dead delivery of an item, charged to the agency that was to post it."""

    delivery_id: str
    agency: str


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    agency: str
    campaign: str | None
    text: str
    received: datetime | None  # aware; the Tehran day of this moment is the item's day
    posts: tuple[PostRow, ...] = ()
    failures: tuple[FailureRow, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """A post's latest metrics; None where the platform does not give them."""

    audience: int | None = None
    impressions: int | None = None
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None


@dataclass(frozen=True)
class ApprovalRow:
    """An approval's latest state (granted, declined, expired or still waiting), or an intent requested."""

    approval_id: str
    item_id: str
    partner: str
    origin_agency: str
    state: str  # awaiting_approval, approved, declined, expired; `requested` for an intent
    kind: str = "approval"  # or "intent"


@dataclass(frozen=True)
class AudiencePoint:
    """An account's audience (followers, members) as one reach snapshot saw it."""

    platform: str
    agency: str
    at: datetime
    audience: int


@dataclass(frozen=True)
class Note:
    """The council's note on a campaign's outcome."""

    campaign: str
    text: str
    at: datetime


@dataclass(frozen=True)
class Rows:
    items: tuple[ItemRow, ...] = ()
    snapshots: Mapping[str, Snapshot] = field(default_factory=dict)  # by delivery id
    audiences: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (platform, agency) → audience
    approvals: tuple[ApprovalRow, ...] = ()
    notes: Mapping[str, Note] = field(default_factory=dict)  # by campaign
    audience_history: tuple[AudiencePoint, ...] = ()


@dataclass(frozen=True)
class Filters:
    campaign: str | None = None
    since: date | None = None  # Gregorian, inclusive, a Tehran day
    until: date | None = None  # Gregorian, inclusive, a Tehran day
    agency: str | None = None


# --- the report --------------------------------------------------------------------------------------


@dataclass
class Engagement:
    impressions: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0

    def add(self, snapshot: Snapshot) -> None:
        for metric in METRICS:
            setattr(self, metric, getattr(self, metric) + (getattr(snapshot, metric) or 0))

    def to_dict(self) -> dict[str, int]:
        return {metric: getattr(self, metric) for metric in METRICS}

    @classmethod
    def total(cls, parts: list[Engagement]) -> Engagement:
        return cls(**{metric: sum(getattr(part, metric) for part in parts) for metric in METRICS})


@dataclass
class Amplifications:
    """Amplifications received (`by` amplifier) or given (`to` origin), and the audience they reached."""

    count: int = 0
    counterparts: dict[str, int] = field(default_factory=dict)
    potential_reach: int = 0

    def add(self, counterpart: str, reach: int) -> None:
        self.count += 1
        self.counterparts[counterpart] = self.counterparts.get(counterpart, 0) + 1
        self.potential_reach += reach

    def to_dict(self, counterparts_key: str) -> dict[str, Any]:
        return {
            "count": self.count,
            counterparts_key: dict(sorted(self.counterparts.items())),
            "potential_reach": self.potential_reach,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class AgencyRow:
    agency: str
    name: str
    items: int = 0
    own_posts: dict[str, int] = field(default_factory=dict)  # by platform
    amplifications_received: Amplifications = field(default_factory=Amplifications)
    amplifications_given: Amplifications = field(default_factory=Amplifications)
    engagement: Engagement = field(default_factory=Engagement)
    own_potential_reach: int = 0
    isolated_items: int = 0
    failed: int = 0
    failed_items: int = 0  # items of this agency that were posted nowhere (every delivery failed)
    engagement_by_platform: dict[str, Engagement] = field(default_factory=dict)
    first_amplification_seconds: float | None = None  # median over its amplified items
    channels: list[str] = field(default_factory=list)  # platforms it has an account on (network file)

    @property
    def coverage(self) -> float | None:
        """Share of its channels that carried at least one of its own posts."""
        if not self.channels:
            return None
        return _share(sum(1 for p in self.channels if self.own_posts.get(p)), len(self.channels))

    @property
    def own_posts_total(self) -> int:
        return sum(self.own_posts.values())

    @property
    def potential_reach(self) -> int:
        return self.own_potential_reach + self.amplifications_received.potential_reach

    @property
    def isolation(self) -> float | None:
        """Share of its posted items nobody amplified; failed items are counted apart, not here."""
        return _share(self.isolated_items, self.items - self.failed_items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "name": self.name,
            "items": self.items,
            "own_posts": dict(sorted(self.own_posts.items())),
            "amplifications_received": self.amplifications_received.to_dict("by"),
            "amplifications_given": self.amplifications_given.to_dict("to"),
            "engagement": self.engagement.to_dict(),
            "own_potential_reach": self.own_potential_reach,
            "isolated_items": self.isolated_items,
            "failed": self.failed,
            "own_posts_total": self.own_posts_total,
            "potential_reach": self.potential_reach,
            "isolation": self.isolation,
            "failed_items": self.failed_items,
            "engagement_by_platform": {
                platform: engagement.to_dict()
                for platform, engagement in sorted(self.engagement_by_platform.items())
            },
            "first_amplification_seconds": self.first_amplification_seconds,
            "channels": sorted(self.channels),
            "coverage": self.coverage,
        }


@dataclass
class PlatformRow:
    platform: str
    title: str
    accounts: set[str] = field(default_factory=set)  # agencies that posted on it
    own_posts: int = 0
    amplifications: int = 0
    potential_reach: int = 0
    engagement: Engagement = field(default_factory=Engagement)

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "title": self.title,
            "accounts": len(self.accounts),
            "own_posts": self.own_posts,
            "amplifications": self.amplifications,
            "potential_reach": self.potential_reach,
            **self.engagement.to_dict(),
        }


@dataclass
class ItemSummary:
    item_id: str
    agency: str
    name: str
    campaign: str | None
    text: str
    received_at: datetime | None
    received_date: str | None  # in the report's calendar
    platforms: list[str]
    own_posts: int
    amplified_by: dict[str, int]  # amplifier → amplifications
    potential_reach: int
    engagement: Engagement

    @property
    def amplifications(self) -> int:
        return sum(self.amplified_by.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "agency": self.agency,
            "name": self.name,
            "campaign": self.campaign,
            "text": self.text,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "received_date": self.received_date,
            "platforms": self.platforms,
            "own_posts": self.own_posts,
            "amplifications": self.amplifications,
            "amplified_by": sorted(self.amplified_by),
            "potential_reach": self.potential_reach,
            **self.engagement.to_dict(),
        }


@dataclass
class Matrix:
    agencies: list[str]
    names: dict[str, str]
    counts: list[list[int]]  # counts[i][j]: amplifications by agencies[i] of items of agencies[j]

    def to_dict(self) -> dict[str, Any]:
        return {"agencies": self.agencies, "names": self.names, "counts": self.counts}


@dataclass
class Totals:
    items: int
    own_posts: int
    amplifications: int
    failed: int
    engagement: Engagement
    potential_reach: int
    amplification_reach: int
    isolated_items: int
    measured_posts: int
    unmeasured_posts: int
    failed_items: int = 0

    @property
    def isolation(self) -> float | None:
        return _share(self.isolated_items, self.items - self.failed_items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "own_posts": self.own_posts,
            "amplifications": self.amplifications,
            "failed": self.failed,
            **self.engagement.to_dict(),
            "potential_reach": self.potential_reach,
            "amplification_reach": self.amplification_reach,
            "isolated_items": self.isolated_items,
            "measured_posts": self.measured_posts,
            "unmeasured_posts": self.unmeasured_posts,
            "isolation": self.isolation,
            "failed_items": self.failed_items,
        }


@dataclass
class FilterEcho:
    """The filters as the report states them: days in the report's calendar."""

    campaign: str | None
    since: str | None
    until: str | None
    agency: str | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass
class Report:
    generated_at: datetime
    calendar: str
    filters: FilterEcho
    totals: Totals
    agencies: list[AgencyRow]
    matrix: Matrix
    platforms: list[PlatformRow]
    top_items: list[ItemSummary]
    cycle: Cycle = field(default_factory=Cycle)
    schema: str = SCHEMA

    @property
    def names(self) -> dict[str, str]:
        """Every agency's Persian name (its slug where the network file gives none)."""
        return {**self.matrix.names, **{row.agency: row.name for row in self.agencies}}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (docs/report.md): keys are stable within `hamafza.report/1`."""
        return {
            "schema": self.schema,
            "generated_at": self.generated_at.isoformat(),
            "calendar": self.calendar,
            "filters": self.filters.to_dict(),
            "totals": self.totals.to_dict(),
            "agencies": [row.to_dict() for row in self.agencies],
            "matrix": self.matrix.to_dict(),
            "platforms": [row.to_dict() for row in self.platforms],
            "top_items": [item.to_dict() for item in self.top_items],
            **self.cycle.to_dict(),
        }
