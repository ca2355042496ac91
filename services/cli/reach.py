"""Reach snapshots and the synergy report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from adapters import load_adapters
from services.cli import (
    ConfigOption,
    PrefixOption,
    RedisOption,
    _require_config,
    app,
    connect,
    console,
    errors,
)
from services.config import ConfigError, load_network
from services.keys import Keys
from services.logs import configure
from services.ops.embedded_redis import DEFAULT_URL

if TYPE_CHECKING:
    from services.reach.report import Report

reach_app = typer.Typer(no_args_is_help=True, help="Reach snapshots: post metrics and account audiences.")
app.add_typer(reach_app, name="reach")


@reach_app.command("poll")
def reach_poll(
    every_post: Annotated[
        bool, typer.Option("--all", help="Every post ever tracked, not only those within the offsets.")
    ] = False,
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Take a reach snapshot now (metrics batched per platform and account), as the service would."""
    from services.app import build_runtime
    from services.reach.collect import Reach
    from services.runtime import Settings

    configure(to_stderr=True)  # logs on stderr; the JSON on stdout stays parseable
    try:
        runtime = build_runtime(_require_config(config), redis_url, Settings.from_env(prefix=prefix))
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None

    async def poll() -> int:
        try:
            return len(await Reach(runtime).poll(every_post=every_post))
        finally:
            await runtime.aclose()
            await runtime.redis.aclose()

    sys.stdout.write(json.dumps({"snapshots": asyncio.run(poll())}) + "\n")


report_app = typer.Typer(
    invoke_without_command=True,
    help="The synergy report (`hamafza report --format html`), and the council's notes on campaigns.",
)
app.add_typer(report_app, name="report")


@report_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this day: 1404-01-05 (Jalali) or 2025-03-25.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day, inclusive.")] = None,
    agency: Annotated[str | None, typer.Option(help="Only this agency and what involves it.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, json, csv, html or pdf.")] = "table",
    lang: Annotated[str, typer.Option(help="fa or en.")] = "fa",
    calendar: Annotated[str, typer.Option(help="jalali or gregorian.")] = "jalali",
    csv_table: Annotated[
        str, typer.Option("--csv-table", help="With --format csv: agencies, matrix, platforms or items.")
    ] = "agencies",
    top: Annotated[int, typer.Option(help="How many top items.")] = 10,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """The synergy report: who published, who amplified whom, and what reach it got."""
    from services.reach import report as reporting

    if ctx.invoked_subcommand is not None:
        return
    if (
        output_format not in reporting.FORMATS
        or lang not in reporting.LABELS
        or calendar not in reporting.CALENDARS
    ):
        errors.print("[red]--format table|json|csv|html|pdf, --lang fa|en, --calendar jalali|gregorian[/red]")
        raise typer.Exit(2)
    try:
        filters = reporting.Filters(
            campaign=campaign,
            since=reporting.parse_day(since),
            until=reporting.parse_day(until),
            agency=agency,
        )
        network = load_network(config, load_adapters()) if config else None
        names = {k: v.name for k, v in network.agencies.items()} if network else {}
        channels = {k: network.platforms_of(k) for k in network.agencies} if network else None
    except (reporting.ReportError, ConfigError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None

    async def build() -> reporting.Report:
        redis = connect(redis_url)
        try:
            return await reporting.build_report(
                redis,
                Keys(prefix),
                filters=filters,
                agency_names=names,
                agency_channels=channels,
                platform_titles=reporting.platform_titles(lang),
                top=top,
                calendar=calendar,
            )
        finally:
            await redis.aclose()

    _emit(asyncio.run(build()), output_format, lang, calendar, csv_table, output)


def _emit(
    document: Report, output_format: str, lang: str, calendar: str, csv_table: str, output: Path | None
) -> None:
    """Write the report in its format, to `output` or standard output."""
    from services.reach import report as reporting
    from services.reach.report.html import render_html

    if output_format == "table":
        target = Console(file=output.open("w", encoding="utf-8"), width=160) if output else console
        reporting.print_table(document, target, lang, calendar)
        return
    try:
        if output_format == "pdf":
            from services.reach.report.pdf import html_to_pdf

            data = html_to_pdf(render_html(document, lang, calendar))
        elif output_format == "json":
            data = reporting.to_json(document).encode()
        elif output_format == "csv":
            data = reporting.to_csv(document, csv_table).encode()
        else:
            data = render_html(document, lang, calendar).encode()
    except reporting.ReportError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        errors.print(f"wrote {output}")


@report_app.command("note")
def report_note(
    campaign: Annotated[str, typer.Argument(help="The campaign, as items name it.")],
    text: Annotated[str, typer.Argument(help="The council's note on its outcome (Persian).")],
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Write the council's note on a campaign's outcome; the report shows it (a later note replaces it)."""
    from datetime import UTC, datetime

    from services.reach.report.read import write_note

    if not campaign.strip() or not text.strip():
        errors.print('[red]give a campaign and a note: hamafza report note CAMPAIGN "…"[/red]')
        raise typer.Exit(2)

    async def write() -> None:
        redis = connect(redis_url)
        try:
            await write_note(redis, Keys(prefix), campaign.strip(), text.strip(), datetime.now(UTC))
        finally:
            await redis.aclose()

    asyncio.run(write())
    console.print(json.dumps({"campaign": campaign.strip(), "note": text.strip()}, ensure_ascii=False))
