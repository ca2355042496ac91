"""The synergy report: its figures equal what the platform fakes say over HTTP, its filters, its
formats, and the HTML report as headless Chromium renders it (page and screenshot kept in the `artifacts`
directory: $HAMAFZA_ARTIFACTS, else a temporary one)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis
from rich.console import Console

from adapters.telegram_preview import parse_count
from sandbox import RunningSandbox
from sandbox.telegram_page import shown_count
from services.keys import Keys
from services.reach.collect import Reach
from services.reach.report import Filters, build_report, parse_day, platform_titles, print_table, to_csv
from services.reach.report.html import render_html
from tests.support.harness import running, wait_idle
from tests.test_reach import (
    AGENCIES,
    ITEMS,
    fake_audience,
    fake_tweet_metrics,
    make_runtime,
    network_document,
    publish_all,
    telegram_views,
)

NAMES = {agency: name for agency, (name, _, _) in AGENCIES.items()}
USER_AGENCY = {uid: agency for agency, (_, uid, _) in AGENCIES.items()}


@pytest.fixture
async def published(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> AsyncIterator[None]:
    """The real pipeline in-process against the sandbox, then `reach poll --all`."""
    runtime = make_runtime(sandbox, redis_url, prefix)
    async with running(runtime) as workers:
        await publish_all(runtime, redis)
        await wait_idle(workers)
    runtime = make_runtime(sandbox, redis_url, prefix)
    try:
        await Reach(runtime).poll(every_post=True)
    finally:
        await runtime.aclose()
        await runtime.redis.aclose()
    yield


async def expected_figures(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    """Per agency, what the report must say, computed only from the fakes (posts and metrics over HTTP)."""
    posts = sandbox.sandbox.posts
    audience = await fake_audience(sandbox)
    chat_agency = {chat: agency for agency, (_, _, chat) in AGENCIES.items()}

    def agency_of(post: Any) -> str:
        return USER_AGENCY[post.account] if post.platform == "x" else chat_agency[post.chat]

    own = [post for post in posts if post.action == "publish"]
    tweet_author = {post.post_id: USER_AGENCY[post.account] for post in own if post.platform == "x"}
    tweets = await fake_tweet_metrics(sandbox, list(tweet_author))
    figures: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "own_posts": Counter(),
            "own_potential_reach": 0,
            "received": 0,
            "received_by": Counter(),
            "received_reach": 0,
            "given": 0,
            "impressions": 0,
            "likes": 0,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
        }
    )
    for post in own:
        agency = agency_of(post)
        row = figures[agency]
        row["own_posts"][post.platform] += 1
        row["own_potential_reach"] += audience[(post.platform, agency)]
        if post.platform == "x":
            metrics = tweets[post.post_id]
            row["impressions"] += metrics["impression_count"]
            row["likes"] += metrics["like_count"]
            row["reposts"] += metrics["retweet_count"]
            row["replies"] += metrics["reply_count"]
            row["quotes"] += metrics["quote_count"]
        if post.platform == "telegram":
            # Views from the channel's public preview, rounded as the page shows them.
            row["impressions"] += parse_count(shown_count(telegram_views(sandbox, agency, post.post_id))) or 0
    for post in posts:
        if post.action == "publish":
            continue
        amplifier = agency_of(post)
        origin = (
            tweet_author[str(post.source_post_id)]
            if post.platform == "x"
            else chat_agency[str(post.source_chat)]
        )
        figures[origin]["received"] += 1
        figures[origin]["received_by"][amplifier] += 1
        figures[origin]["received_reach"] += audience[(post.platform, amplifier)]
        figures[amplifier]["given"] += 1
        # When the fake accepted the origin's first amplification (the clock of responsiveness).
        first = figures[origin].get("first_amplified_at")
        figures[origin]["first_amplified_at"] = post.at if first is None else min(first, post.at)
    return figures


async def check_responsiveness_and_platforms(
    report: dict[str, Any], expected: dict[str, dict[str, Any]], redis: Redis, keys: Keys
) -> None:
    by_agency = {row["agency"]: row for row in report["agencies"]}
    # Time to the first amplification: from the item's receipt to the fake's first partner post (each
    # agency has one item here, so its median is that item's delay); the report's clock is the
    # worker's result, a moment after the fake's answer.
    delays = []
    for item in ITEMS:
        received_ms = int(await redis.hget(keys.item(item["id"]), "received_ms") or 0)
        first_at = expected[item["agency"]].get("first_amplified_at")
        reported = by_agency[item["agency"]]["first_amplification_seconds"]
        if first_at is None:
            assert reported is None, item["agency"]
            continue
        delay = first_at - received_ms / 1000
        delays.append(reported)
        assert delay - 0.05 <= reported <= delay + 1.5, (item["agency"], delay, reported)
    assert report["responsiveness"]["amplified_items"] == len(delays) == 3
    assert report["responsiveness"]["first_amplification_seconds"] == sorted(delays)[1]  # median of 3
    # Engagement per platform, as the fakes give it: X metrics under x, Telegram views under telegram.
    for row in report["agencies"]:
        by_platform = row["engagement_by_platform"]
        for metric in ("impressions", "likes", "reposts", "replies", "quotes"):
            assert sum(e[metric] for e in by_platform.values()) == expected[row["agency"]][metric]
        assert by_platform.get("x", {}).get("likes", 0) == expected[row["agency"]]["likes"]  # likes: X only


async def test_the_report_equals_the_sums_of_the_fakes_metrics(
    published: None, sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    config = tmp_path / "network.yaml"
    config.write_text(yaml.safe_dump(network_document(sandbox), allow_unicode=True), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "services", "report", "--format", "json", "--config", str(config)],
        *["--redis-url", redis_url, "--prefix", prefix],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    report = json.loads(stdout)
    expected = await expected_figures(sandbox)

    assert report["schema"] == "hamafza.report/1"
    assert {a["agency"] for a in report["agencies"]} == set(AGENCIES)
    for row in report["agencies"]:
        want = expected[row["agency"]]
        assert row["name"] == NAMES[row["agency"]]
        assert row["own_posts"] == dict(want["own_posts"]), row["agency"]
        assert row["own_potential_reach"] == want["own_potential_reach"], row["agency"]
        assert row["amplifications_received"] == {
            "count": want["received"],
            "by": dict(sorted(want["received_by"].items())),
            "potential_reach": want["received_reach"],
        }, row["agency"]
        assert row["amplifications_given"]["count"] == want["given"], row["agency"]
        for metric in ("impressions", "likes", "reposts", "replies", "quotes"):
            assert row["engagement"][metric] == want[metric], (row["agency"], metric)
    by_agency = {row["agency"]: row for row in report["agencies"]}
    await check_responsiveness_and_platforms(report, expected, redis, Keys(prefix))
    assert by_agency["khz-roads"]["items"] == 1 and by_agency["khz-roads"]["isolation"] == 0
    assert by_agency["khz-water"]["isolation"] == 1.0  # no partner: nobody amplified it
    assert by_agency["khz-roads"]["amplifications_received"]["count"] == 4  # 2 partners × 2 platforms

    totals = report["totals"]
    assert totals["items"] == len(ITEMS)
    assert totals["own_posts"] == sum(1 for p in sandbox.sandbox.posts if p.action == "publish")
    assert totals["amplifications"] == sum(1 for p in sandbox.sandbox.posts if p.action != "publish")
    assert totals["impressions"] == sum(w["impressions"] for w in expected.values())
    assert totals["likes"] == sum(w["likes"] for w in expected.values())
    assert totals["potential_reach"] == sum(
        w["own_potential_reach"] + w["received_reach"] for w in expected.values()
    )
    assert totals["unmeasured_posts"] == 0
    assert totals["isolation"] == 0.25

    matrix = report["matrix"]
    index = {agency: i for i, agency in enumerate(matrix["agencies"])}
    for origin, want in expected.items():
        for amplifier, count in want["received_by"].items():
            assert matrix["counts"][index[amplifier]][index[origin]] == count
    assert sum(map(sum, matrix["counts"])) == totals["amplifications"]
    assert sum(row["impressions"] for row in report["platforms"]) == totals["impressions"]
    telegram_row = next(p for p in report["platforms"] if p["platform"] == "telegram")
    assert telegram_row["impressions"] > 0  # views read from the public preview
    assert report["top_items"][0]["item_id"] in {"tw-1", "tw-2", "tw-3"}  # amplified items reach furthest


async def test_filters_formats_and_dates(published: None, redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    water = await build_report(redis, keys, filters=Filters(campaign="water"))
    assert water.totals.items == 1 and water.totals.amplifications == 0
    only_rail = await build_report(redis, keys, filters=Filters(agency="khz-rail"))
    assert [a.agency for a in only_rail.agencies] == ["khz-rail"]
    # khz-rail's own item, and the two it amplified
    assert only_rail.totals.items == 3
    future = await build_report(redis, keys, filters=Filters(since=date(2999, 1, 1)))
    assert future.totals.items == 0 and future.totals.isolation is None

    assert parse_day("1404-01-01") == date(2025, 3, 21)
    assert parse_day("۱۴۰۴/۰۱/۰۲") == date(2025, 3, 22)
    assert parse_day("2025-03-21") == date(2025, 3, 21)

    report = await build_report(redis, keys, agency_names=NAMES, platform_titles=platform_titles("fa"))
    text = to_csv(report)
    assert text.startswith("\ufeff")  # Excel reads UTF-8 Persian only after a BOM
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {row["agency"] for row in rows} == set(AGENCIES)
    assert sum(int(row["impressions"]) for row in rows) == report.totals.engagement.impressions
    matrix_rows = list(csv.reader(io.StringIO(to_csv(report, "matrix").removeprefix("\ufeff"))))
    assert matrix_rows[0][1:] == report.matrix.agencies

    console = Console(record=True, width=200)
    print_table(report, console, "fa", "jalali")
    text = console.export_text()
    assert "کارنامه دستگاه‌ها" in text and "۱۴" in text  # Persian labels, Persian digits, Jalali year
    console = Console(record=True, width=200)
    print_table(report, console, "en", "gregorian")
    assert "Agencies" in console.export_text()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


async def test_the_html_report_reads_right_to_left_in_persian_offline(
    published: None, redis: Redis, prefix: str, artifacts: Path
) -> None:
    report = await build_report(
        redis, Keys(prefix), agency_names=NAMES, platform_titles=platform_titles("fa"), calendar="jalali"
    )
    page = render_html(report, "fa", "jalali")
    assert '<html lang="fa" dir="rtl">' in page
    assert "<script" not in page  # no CDN, no script: opens offline
    assert "<svg" in page and "گزارش هم‌افزایی" in page and "ماتریس هم‌افزایی" in page
    assert any(digit in page for digit in "۱۲۳۴۵۶۷۸۹")
    html_file = artifacts / "report.html"
    html_file.write_text(page, encoding="utf-8")

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run: apt-get install chromium)")
    screenshot = artifacts / "report.png"
    screenshot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        completed = await asyncio.to_thread(
            subprocess.run,
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1280,2000",
                "--hide-scrollbars",
                html_file.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert screenshot.exists(), completed.stderr.decode(errors="replace")[-2000:]
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
