"""Pure decisions of a network's amplification policy, in Tehran time; no I/O here.

Iran has kept UTC+03:30 all year since 2022, so a fixed offset is Tehran time and needs no tz data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

from schemas import AmplificationPolicy, PolicyMode, UrgentRule

TEHRAN = timezone(timedelta(hours=3, minutes=30), "Asia/Tehran")


class Gate(StrEnum):
    """What happens to one partner's planned amplification of one item."""

    AUTO = "auto"  # scheduled after the network's delay
    APPROVE = "approve"  # held until the partner's approver decides, or the request expires
    OFF = "off"  # never


def gate(policy: AmplificationPolicy, partner: str, urgent: bool) -> Gate:
    """The partner's mode; an urgent item skips approval where the network says `urgent: auto`.
    `off` stays off even for urgent items: a partner that opted out was never asked to carry them."""
    mode = policy.mode_of(partner)
    if mode is PolicyMode.OFF:
        return Gate.OFF
    if mode is PolicyMode.APPROVE and not (urgent and policy.urgent is UrgentRule.AUTO):
        return Gate.APPROVE
    return Gate.AUTO


def skips_quiet_hours(policy: AmplificationPolicy, urgent: bool) -> bool:
    return urgent and policy.urgent is UrgentRule.AUTO


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def after_quiet_hours(due: datetime, quiet_hours: tuple[str, str] | None) -> datetime:
    """`due`, or the end of the quiet window it falls in (Tehran time; a window may span midnight)."""
    if quiet_hours is None:
        return due
    start, end = _clock(quiet_hours[0]), _clock(quiet_hours[1])
    if start == end:
        return due  # an empty window
    local = due.astimezone(TEHRAN)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # e.g. 23:00 → 07:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return due
    return datetime.combine(end_day, end, TEHRAN).astimezone(due.tzinfo)


def tehran_day(moment: datetime) -> date:
    return moment.astimezone(TEHRAN).date()


def next_tehran_day(moment: datetime) -> datetime:
    """The first moment of the Tehran day after `moment`'s."""
    return datetime.combine(tehran_day(moment) + timedelta(days=1), time(0, 0), TEHRAN).astimezone(
        moment.tzinfo
    )


def staggered(
    dues: Sequence[datetime], min_gap_seconds: float, after: datetime | None = None
) -> list[datetime]:
    """Each due moment at least `min_gap_seconds` after the one before (in the given order), and after
    `after` plus the gap when given (the latest amplification of the same item and platform already
    scheduled), so no two partners act on one item at the same moment."""
    gap = timedelta(seconds=min_gap_seconds)
    placed: list[datetime] = []
    previous = after
    for due in dues:
        moment = due if previous is None or gap <= timedelta(0) else max(due, previous + gap)
        placed.append(moment)
        previous = moment
    return placed


def within_cap(counted: int, cap: int | None) -> bool:
    """Whether one more amplification fits today's cap of the amplifying account."""
    return cap is None or counted < cap
