"""The synergy report: who published, who amplified whom, and what reach it got.

Three steps, each its own module: `read` (Redis → typed rows, `model.Rows`), `compute` (rows → a typed
`model.Report`, pure) and the renderers (`render`: JSON, CSV, terminal table; `html`: one offline page).
The JSON keys are documented in docs/report.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.keys import Keys
from services.reach.report.compute import compute
from services.reach.report.days import CALENDARS, ReportError, parse_day
from services.reach.report.labels import LABELS, platform_titles
from services.reach.report.model import METRICS, SCHEMA, Filters, Report, Rows
from services.reach.report.read import read_rows
from services.reach.report.render import CSV_TABLES, FORMATS, print_table, to_csv, to_json

__all__ = [
    "CALENDARS",
    "CSV_TABLES",
    "FORMATS",
    "LABELS",
    "METRICS",
    "SCHEMA",
    "Filters",
    "Report",
    "ReportError",
    "Rows",
    "build_report",
    "compute",
    "parse_day",
    "platform_titles",
    "print_table",
    "read_rows",
    "to_csv",
    "to_json",
]


async def build_report(
    redis: Any,
    keys: Keys,
    *,
    filters: Filters | None = None,
    agency_names: Mapping[str, str] | None = None,
    platform_titles: Mapping[str, str] | None = None,
    top: int = 10,
    calendar: str = "jalali",
    agency_channels: Mapping[str, Sequence[str]] | None = None,
) -> Report:
    """Read the rows from Redis and compute the report."""
    return compute(
        await read_rows(redis, keys),
        filters=filters,
        agency_names=agency_names,
        platform_titles=platform_titles,
        top=top,
        calendar=calendar,
        agency_channels=agency_channels,
    )
