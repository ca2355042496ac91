"""The demo's last step: a reach poll, the synergy report (table, and HTML to a file), and an
independent check of its totals against the platform fakes' own records."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from sandbox import Sandbox
from services.app import build_runtime
from services.config import Network
from services.reach.collect import Reach
from services.reach.report import METRICS, build_report, platform_titles, print_table
from services.reach.report.html import render_html
from services.runtime import Settings

REPORT_FILE = Path(".hamafza") / "demo-report.html"


async def reach_report(
    network: Network, redis_url: str, settings: Settings, sandbox: Sandbox, console: Console
) -> bool:
    runtime = build_runtime(network, redis_url, settings)
    try:
        snapshots = await Reach(runtime).poll(every_post=True)
        report = await build_report(
            runtime.redis,
            runtime.keys,
            agency_names={name: agency.name for name, agency in network.agencies.items()},
            agency_channels={name: network.platforms_of(name) for name in network.agencies},
            platform_titles=platform_titles("fa"),
        )
    finally:
        await runtime.aclose()
        await runtime.redis.aclose()
    console.print(f"[bold]Reach[/bold] {len(snapshots)} snapshots taken now (`hamafza reach poll --all`)")
    print_table(report, console, "fa", "jalali")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(render_html(report, "fa", "jalali"), encoding="utf-8")
    console.print(f"[bold]HTML report[/bold] {REPORT_FILE.resolve()}")

    expected = figures_from_fakes(sandbox)
    reported = {
        row.platform: {key: row.to_dict()[key] for key in (*METRICS, "potential_reach")}
        for row in report.platforms
        if row.platform in expected
    }
    if reported != expected:
        console.print(f"[red]the report says {reported}, the platform fakes {expected}[/red]")
        return False
    console.print(
        "[green]The report's figures equal the platform fakes' own records: "
        + "; ".join(
            f"{platform}: impressions {row['impressions']:,}, likes {row['likes']:,}, "
            f"potential reach {row['potential_reach']:,}"
            for platform, row in expected.items()
        )
        + ".[/green]"
    )
    return True


def figures_from_fakes(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    """Per platform that got posts and whose fake models reach: the report's figures as the fake's
    own records give them (engagement of the posts it measures, the audience behind every post)."""
    expected: dict[str, dict[str, int]] = {}
    for platform, fake in sorted(sandbox.fakes.items()):
        figures = fake.reach_figures()
        if figures is not None and sandbox.posts_on(platform):
            expected[platform] = asdict(figures)
    return expected
