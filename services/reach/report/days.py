"""Report days: Tehran days, written and read in the Jalali or the Gregorian calendar."""

from __future__ import annotations

from datetime import date, timedelta, timezone

import jdatetime

# Iran has kept UTC+03:30 all year since 2022; report days are Tehran days.
TEHRAN = timezone(timedelta(hours=3, minutes=30), "IRST")
CALENDARS = ("jalali", "gregorian")


class ReportError(ValueError):
    """A filter that cannot be understood; the message says what is expected."""


def parse_day(text: str | None) -> date | None:
    """`1404-01-05` (Jalali: a year before 1700) or `2025-03-25` (Gregorian); `/` works as `-`."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip().translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹/", "0123456789-"))
    try:
        year, month, day = (int(part) for part in cleaned.split("-"))
        if year < 1700:
            gregorian: date = jdatetime.date(year, month, day).togregorian()
            return gregorian
        return date(year, month, day)
    except ValueError:
        raise ReportError(f"{text!r} is not a date like 1404-01-05 (Jalali) or 2025-03-25") from None


def iso_day(day: date | None, calendar: str) -> str | None:
    """`1404-01-05` in the Jalali calendar, `2025-03-25` in the Gregorian; None stays None."""
    if day is None:
        return None
    if calendar == "jalali":
        jalali = jdatetime.date.fromgregorian(date=day)
        return f"{jalali.year:04d}-{jalali.month:02d}-{jalali.day:02d}"
    return day.isoformat()
