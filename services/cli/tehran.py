"""Moments as Iranian readers read them: the Jalali calendar in Tehran time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import jdatetime

TEHRAN = ZoneInfo("Asia/Tehran")


def jalali_tehran(moment: datetime) -> str:
    """`1405-09-11 12:34` for a moment, in Tehran's clock and the Jalali calendar."""
    local = moment.astimezone(TEHRAN)
    text: str = jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y-%m-%d %H:%M")
    return text
