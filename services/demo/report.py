"""The demo's last step: a reach poll, the synergy report (table, and HTML to a file), and an
independent check of its totals against what the platform fakes answer over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from selectolax.lexbor import LexborHTMLParser

from services.app import build_runtime
from services.config import Network
from services.reach.collect import Reach
from services.reach.report import METRICS, build_report, platform_titles, print_table
from services.reach.report.html import render_html
from services.runtime import Settings

REPORT_FILE = Path(".hamafza") / "demo-report.html"
# The fakes accept any well-formed bot token for reads; this one belongs to no agency.
CHECK_TOKEN = "0:independentCheck"
CHECK_TOKEN_RUBIKA = "INDEPENDENTCHECK0000"
# The platforms whose reach this check knows how to ask the fakes for.
CHECKED = frozenset({"x", "telegram", "bale", "rubika", "eitaa"})
# Public pages show counters rounded: Telegram "1.2K", Eitaa in Persian digits, "۱٫۲ هزار".
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٫", "0123456789.")
_UNITS = {"k": 1_000, "هزار": 1_000, "m": 1_000_000}
# Where each platform's fake shows a post's views: its public page and the post's element there.
PAGES = {
    "telegram": (
        "telegram/s/{chat}",
        'div.tgme_widget_message[data-post="{chat}/{post}"] .tgme_widget_message_views',
    ),
    "eitaa": (
        "eitaa/{chat}",
        'div.etme_widget_message[data-post="{chat}/{post}"] .etme_widget_message_views',
    ),
}
MEASURED = frozenset({"publish", "quote", "copy"})


async def reach_report(
    network: Network,
    redis_url: str,
    settings: Settings,
    sandbox_url: str,
    sandbox_posts: list[Any],
    console: Console,
) -> bool:
    runtime = build_runtime(network, redis_url, settings)
    try:
        snapshots = await Reach(runtime).poll(every_post=True)
        report = await build_report(
            runtime.redis,
            runtime.keys,
            agency_names={name: agency.name for name, agency in network.agencies.items()},
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

    expected = await figures_from_fakes(sandbox_url, sandbox_posts)
    reported = {
        row.platform: {key: row.to_dict()[key] for key in (*METRICS, "potential_reach")}
        for row in report.platforms
        if row.platform in expected
    }
    if reported != expected:
        console.print(f"[red]the report says {reported}, the platform fakes {expected}[/red]")
        return False
    console.print(
        "[green]The report's figures equal the platform fakes' own (asked over HTTP): "
        + "; ".join(
            f"{platform}: impressions {row['impressions']:,}, likes {row['likes']:,}, "
            f"potential reach {row['potential_reach']:,}"
            for platform, row in expected.items()
        )
        + ".[/green]"
    )
    return True


async def figures_from_fakes(sandbox_url: str, posts: list[Any]) -> dict[str, dict[str, int]]:
    """Per platform (X, Telegram, Bale, Rubika, Eitaa): engagement of every own tweet and every Eitaa
    post's views on its channel's public page, and the audience behind every post, asked of the fakes
    directly."""
    checked = [p for p in delivery_records(posts) if p.platform in CHECKED]
    totals = {
        platform: dict.fromkeys((*METRICS, "potential_reach"), 0)
        for platform in sorted({p.platform for p in checked})
    }
    audience: dict[tuple[str, str], int] = {}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer independent-check"}) as http:
        tweet_ids = [p.post_id for p in checked if p.platform == "x" and p.action in {"publish", "quote"}]
        for start in range(0, len(tweet_ids), 100):
            params = {"ids": ",".join(tweet_ids[start : start + 100]), "tweet.fields": "public_metrics"}
            async with http.get(f"{sandbox_url}/x/2/tweets", params=params) as response:
                body = await response.json()
            for tweet in body.get("data", []):
                public, x = tweet["public_metrics"], totals["x"]
                x["impressions"] += public["impression_count"]
                x["likes"] += public["like_count"]
                x["reposts"] += public["retweet_count"]
                x["replies"] += public["reply_count"]
                x["quotes"] += public["quote_count"]
        pages: dict[tuple[str, str], LexborHTMLParser] = {}
        for post in (p for p in checked if p.platform in PAGES and p.action in MEASURED):
            path, selector = PAGES[post.platform]
            chat = str(post.chat).lstrip("@")
            if (post.platform, chat) not in pages:
                async with http.get(f"{sandbox_url}/{path.format(chat=chat)}") as response:
                    pages[(post.platform, chat)] = LexborHTMLParser(await response.text())
            views = pages[(post.platform, chat)].css_first(selector.format(chat=chat, post=post.post_id))
            totals[post.platform]["impressions"] += _shown_number(views.text()) if views is not None else 0
        for post in checked:
            account = (post.platform, post.account if post.platform == "x" else str(post.chat))
            if account not in audience:
                if post.platform == "eitaa":
                    page = pages[("eitaa", str(post.chat).lstrip("@"))]
                    counter = page.css_first(".etme_channel_info_counter .counter_value")
                    audience[account] = _shown_number(counter.text()) if counter is not None else 0
                elif post.platform == "rubika":
                    url = f"{sandbox_url}/rubika/v3/{CHECK_TOKEN_RUBIKA}/getChatMemberCount"
                    async with http.post(url, json={"chat_id": post.chat}) as response:
                        audience[account] = (await response.json())["data"]["member_count"]
                elif post.platform == "x":
                    url = f"{sandbox_url}/x/2/users/{post.account}"
                    async with http.get(url, params={"user.fields": "public_metrics"}) as response:
                        audience[account] = (await response.json())["data"]["public_metrics"][
                            "followers_count"
                        ]
                else:
                    method = "getChatMembersCount" if post.platform == "bale" else "getChatMemberCount"
                    url = f"{sandbox_url}/{post.platform}/bot{CHECK_TOKEN}/{method}"
                    async with http.post(url, json={"chat_id": post.chat}) as response:
                        audience[account] = (await response.json())["result"]
            totals[post.platform]["potential_reach"] += audience[account]
    return totals


def delivery_records(posts: list[Any]) -> list[Any]:
    """The fakes' records, one per delivery: an album is one record, and a platform without a
    many-message forward (Bale) forwards an album one picture at a time, in one delivery."""
    later_parts = {(p.platform, p.chat, part) for p in posts for part in getattr(p, "post_ids", [])[1:]}
    return [
        p
        for p in posts
        if not (p.action == "forward" and (p.platform, p.source_chat, p.source_post_id) in later_parts)
    ]


def _shown_number(shown: str) -> int:
    """ "873" → 873, "1.2K" → 1200, "۱۲٫۴ هزار" → 12400, as the public pages show counters."""
    cleaned = shown.translate(_DIGITS).strip().lower()
    for unit, factor in _UNITS.items():
        if cleaned.endswith(unit):
            return round(float(cleaned.removesuffix(unit).strip()) * factor)
    return int(cleaned)
