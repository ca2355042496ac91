"""The report for machines and terminals: JSON (docs/report.md), CSV tables, and rich tables.

Each renderer presents a computed `Report` and adds nothing to it; the HTML page is `html.py`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

from rich.console import Console, JustifyMethod
from rich.table import Table

from services.reach.report.days import ReportError
from services.reach.report.labels import LABELS, day_text, duration, excerpt, moment_text, number, percent
from services.reach.report.model import METRICS, AgencyRow, ItemSummary, PlatformRow, Report

FORMATS = ("table", "json", "csv", "html", "pdf")
BOM = "\ufeff"


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


# --- CSV: one table per file, Latin digits and plain numbers, for spreadsheets ------------------------


def _agencies_csv(report: Report) -> list[Sequence[object]]:
    platforms = sorted({p for a in report.agencies for p in a.own_posts})
    table: list[Sequence[object]] = []
    table.append(
        [
            "agency",
            "name",
            "items",
            *(f"own_posts_{p}" for p in platforms),
            "own_posts_total",
            "amplifications_received",
            "amplification_reach",
            "amplified_by",
            "amplifications_given",
            *METRICS,
            "own_potential_reach",
            "potential_reach",
            "isolated_items",
            "isolation",
            "failed",
            "failed_items",
            "first_amplification_seconds",
        ]
    )
    for a in report.agencies:
        received = a.amplifications_received
        table.append(
            [
                a.agency,
                a.name,
                a.items,
                *(a.own_posts.get(p, 0) for p in platforms),
                a.own_posts_total,
                received.count,
                received.potential_reach,
                " ".join(f"{k}:{v}" for k, v in sorted(received.counterparts.items())),
                a.amplifications_given.count,
                *(getattr(a.engagement, m) for m in METRICS),
                a.own_potential_reach,
                a.potential_reach,
                a.isolated_items,
                "" if a.isolation is None else a.isolation,
                a.failed,
                a.failed_items,
                "" if a.first_amplification_seconds is None else a.first_amplification_seconds,
            ]
        )
    return table


def _matrix_csv(report: Report) -> list[Sequence[object]]:
    table: list[Sequence[object]] = []
    table.append(["amplifier \\ origin", *report.matrix.agencies])
    for amplifier, counts in zip(report.matrix.agencies, report.matrix.counts, strict=True):
        table.append([amplifier, *counts])
    return table


def _platforms_csv(report: Report) -> list[Sequence[object]]:
    columns = ["platform", "title", "accounts", "own_posts", "amplifications", *METRICS, "potential_reach"]
    table: list[Sequence[object]] = []
    table.append(columns)
    for p in report.platforms:
        row = p.to_dict()
        table.append([row[c] for c in columns])
    return table


def _items_csv(report: Report) -> list[Sequence[object]]:
    columns = [
        "item_id",
        "agency",
        "campaign",
        "received_date",
        "own_posts",
        "amplifications",
        *METRICS,
        "potential_reach",
        "text",
    ]
    table: list[Sequence[object]] = []
    table.append([*columns, "amplified_by"])
    for item in report.top_items:
        row = item.to_dict()
        table.append(
            [*(row[c] if row[c] is not None else "" for c in columns), " ".join(row["amplified_by"])]
        )
    return table


CSV_WRITERS: dict[str, Callable[[Report], list[Sequence[object]]]] = {
    "agencies": _agencies_csv,
    "matrix": _matrix_csv,
    "platforms": _platforms_csv,
    "items": _items_csv,
}
CSV_TABLES = tuple(CSV_WRITERS)


def to_csv(report: Report, table: str = "agencies") -> str:
    """One table per file (`CSV_TABLES`), Latin digits and plain numbers, for spreadsheets."""
    write = CSV_WRITERS.get(table)
    if write is None:
        raise ReportError(f"no CSV table {table!r} (choose from {', '.join(CSV_TABLES)})")
    out = io.StringIO()
    # A UTF-8 byte order mark first: without it Excel reads the Persian names as mojibake.
    out.write(BOM)
    csv.writer(out, lineterminator="\n").writerows(write(report))
    return out.getvalue()


# --- a terminal: four tables and a line of totals ------------------------------------------------------


def print_table(report: Report, console: Console, lang: str = "fa", calendar: str = "jalali") -> None:
    label = LABELS[lang]
    justify: JustifyMethod = "right" if lang == "fa" else "center"
    console.print(
        f"[bold]{label['title']}[/bold] — {label['generated']}: "
        f"{moment_text(report.generated_at, calendar, lang)}"
    )
    console.print(_agency_table(report.agencies, lang, justify))
    console.print(_matrix_table(report, lang, justify))
    console.print(_platform_table(report.platforms, lang, justify))
    console.print(_item_table(report.top_items, lang, calendar, justify))
    t = report.totals

    def n(value: float | None) -> str:
        return number(value, lang)

    console.print(
        f"{label['items']}: {n(t.items)} · {label['own_posts']}: {n(t.own_posts)} · "
        f"{label['amplifications']}: {n(t.amplifications)} · "
        f"{label['impressions']}: {n(t.engagement.impressions)} · "
        f"{label['likes']}: {n(t.engagement.likes)} · {label['reposts']}: {n(t.engagement.reposts)} · "
        f"{label['replies']}: {n(t.engagement.replies)} · {label['quotes']}: {n(t.engagement.quotes)} · "
        f"{label['potential_reach']}: {n(t.potential_reach)} · {label['amp_reach']}: "
        f"{n(t.amplification_reach)} · {label['isolation']}: {percent(t.isolation, lang)} · "
        f"{label['failed_items']}: {n(t.failed_items)} · {label['failed']}: {n(t.failed)}"
    )
    r = report.cycle.responsiveness
    console.print(
        f"{label['first_amp']}: {duration(r.first_amplification_seconds, lang)} · "
        f"{label['median_amp']}: {duration(r.median_amplification_seconds, lang)} · "
        f"{label['approvals_granted']}: {n(r.approvals_granted)} · "
        f"{label['approvals_declined']}: {n(r.approvals_declined)} · "
        f"{label['approvals_expired']}: {n(r.approvals_expired)} · "
        f"{label['intents_requested']}: {n(r.intents_requested)}"
    )
    for note in report.cycle.outcomes:
        console.print(f"{label['outcomes']} — {note['campaign']}: {note['text']}")


def _agency_table(agencies: list[AgencyRow], lang: str, justify: JustifyMethod) -> Table:
    # Agencies by their names (slugs are for exports) and own posts as one number.
    label = LABELS[lang]
    table = Table(title=label["per_agency"], title_justify=justify)
    table.add_column(label["agency"], overflow="fold")
    for column in (
        "items",
        "own_posts",
        "amp_received",
        "amp_reach",
        "amp_given",
        "impressions",
        "likes",
        "reposts",
        "own_reach",
        "isolation",
        "failed_items",
        "failed",
    ):
        table.add_column(label[column], justify="right")
    for a in agencies:
        table.add_row(
            a.name,
            *(
                number(value, lang)
                for value in (
                    a.items,
                    a.own_posts_total,
                    a.amplifications_received.count,
                    a.amplifications_received.potential_reach,
                    a.amplifications_given.count,
                    a.engagement.impressions,
                    a.engagement.likes,
                    a.engagement.reposts,
                    a.own_potential_reach,
                )
            ),
            percent(a.isolation, lang),
            number(a.failed_items, lang),
            number(a.failed, lang),
        )
    return table


def _matrix_table(report: Report, lang: str, justify: JustifyMethod) -> Table:
    label = LABELS[lang]
    grid = Table(title=label["matrix"], title_justify=justify)
    grid.add_column(f"{label['amplifier']} \\ {label['origin']}")
    names = report.names
    for origin in report.matrix.agencies:
        grid.add_column(names.get(origin, origin), justify="right", overflow="fold")
    for amplifier, counts in zip(report.matrix.agencies, report.matrix.counts, strict=True):
        grid.add_row(names.get(amplifier, amplifier), *(number(c, lang) if c else "·" for c in counts))
    return grid


def _platform_table(platforms: list[PlatformRow], lang: str, justify: JustifyMethod) -> Table:
    label = LABELS[lang]
    table = Table(title=label["per_platform"], title_justify=justify)
    columns = (
        "platform",
        "accounts",
        "own_posts",
        "amplifications",
        "impressions",
        "likes",
        "potential_reach",
    )
    for column in columns:
        table.add_column(label[column], justify="left" if column == "platform" else "right")
    for p in platforms:
        table.add_row(
            p.title,
            *(
                number(value, lang)
                for value in (
                    len(p.accounts),
                    p.own_posts,
                    p.amplifications,
                    p.engagement.impressions,
                    p.engagement.likes,
                    p.potential_reach,
                )
            ),
        )
    return table


def _item_table(items: list[ItemSummary], lang: str, calendar: str, justify: JustifyMethod) -> Table:
    label = LABELS[lang]
    table = Table(title=label["top_items"], title_justify=justify)
    for column in ("item", "agency", "date", "amplifications", "impressions", "potential_reach", "text"):
        numeric = column in {"amplifications", "impressions", "potential_reach"}
        table.add_column(label[column], overflow="fold", justify="right" if numeric else "left")
    for i in items:
        table.add_row(
            i.item_id,
            i.name,
            day_text(i.received_at, calendar, lang),
            number(i.amplifications, lang),
            number(i.engagement.impressions, lang),
            number(i.potential_reach, lang),
            excerpt(i.text, 40),
        )
    return table
