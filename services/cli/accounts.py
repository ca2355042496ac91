"""Item status, paused accounts and stream statistics."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from services.cli import ConfigOption, JsonOption, PrefixOption, RedisOption, app, connect, console, errors
from services.keys import Keys
from services.ops.embedded_redis import DEFAULT_URL


@app.command()
def status(
    item_id: str,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: JsonOption = False,
) -> None:
    """Every delivery of one item: state, post id, URL, reason."""
    from services.ops.status import item_deliveries

    async def read() -> tuple[bool, list[Any]]:
        redis = connect(redis_url)
        try:
            keys = Keys(prefix)
            known = bool(await redis.exists(keys.item(item_id), keys.item_deliveries(item_id)))
            return known, await item_deliveries(redis, keys, item_id)
        finally:
            await redis.aclose()

    known, rows = asyncio.run(read())
    if not known and not rows:
        errors.print(
            f"[red]no item {item_id!r}: never published under prefix {prefix!r}, or not fanned out yet[/red]"
        )
        raise typer.Exit(1)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.__dict__, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"item {item_id}")
    for column in ("agency", "platform", "action", "state", "url / reason / decided"):
        table.add_column(column)
    for row in rows:
        decided = f"{row.decided_by} at {row.decided_at}" if row.decided_by else ""
        table.add_row(row.agency, row.platform, row.action, row.state, row.url or row.reason or decided)
    console.print(table)


accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts paused by rate limits or refused credentials."
)
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("paused")
def accounts_paused(
    redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza", as_json: JsonOption = False
) -> None:
    """Accounts whose deliveries are held: why (rate limit or refused credentials) and until when."""
    from services.cli.tehran import jalali_tehran
    from services.ops.gauges import paused_accounts

    async def read() -> list[tuple[str, str, int, str]]:
        redis = connect(redis_url)
        try:
            return await paused_accounts(redis, Keys(prefix))
        finally:
            await redis.aclose()

    rows = asyncio.run(read())
    for platform, agency, until_ms, reason in rows:
        until = datetime.fromtimestamp(until_ms / 1000, tz=UTC)
        if as_json:
            row = {"agency": agency, "platform": platform, "reason": reason, "until": until.isoformat(),
                   "until_tehran": jalali_tehran(until)}  # fmt: skip
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        why = PAUSE_REASONS.get(reason, PAUSE_REASONS["unknown"]).format(agency=agency, platform=platform)
        console.print(
            f"{agency} on {platform}: paused until {jalali_tehran(until)} Tehran ({until:%Y-%m-%d %H:%M} UTC); {why}",
            highlight=False,
            soft_wrap=True,
        )
    if not rows and not as_json:
        console.print("no account is paused")


PAUSE_REASONS = {
    "rate_limit": "the platform's rate limit; it resumes by itself",
    "auth": "the platform refused its credentials: renew them, then `hamafza accounts resume {agency} {platform}`",
    "unknown": "reason not recorded",
}


@accounts_app.command("resume")
def accounts_resume(
    agency: str,
    platform: str,
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Lift an account's pause (after renewing its credentials) and release its held deliveries."""
    from services.cli.checks import check_agency, check_platform
    from services.pipeline.ledger import Ledger

    check_platform(platform)
    if config is not None:
        check_agency(config, agency, platform)

    async def resume() -> tuple[bool, int]:
        redis = connect(redis_url)
        try:
            keys = Keys(prefix)
            was_paused = bool(await redis.exists(keys.pause(platform, agency)))
            released: int = await Ledger(redis, keys).resume_account(platform, agency)
            return was_paused, released
        finally:
            await redis.aclose()

    was_paused, released = asyncio.run(resume())
    state = "was paused" if was_paused else "was not paused"
    console.print(
        f"resumed {agency} on {platform} ({state}); {released} held deliveries released", highlight=False
    )


@app.command()
def streams(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: JsonOption = False,
) -> None:
    """Each stream's length, and per consumer group: pending, unread (lag), consumers."""
    from services.ops import janitor

    async def read() -> list[janitor.GroupStats]:
        redis = connect(redis_url)
        keys = Keys(prefix)
        try:
            names = [
                key.decode() async for key in redis.scan_iter(match=keys.deliveries_pattern, _type="stream")
            ]
            found: list[janitor.GroupStats] = await janitor.group_stats(
                redis, [keys.items, *sorted(names), keys.results]
            )
            return found
        finally:
            await redis.aclose()

    rows = asyncio.run(read())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.__dict__) + "\n")
        return
    table = Table(title="streams")
    for column in ("stream", "group", "length", "pending", "unread", "consumers"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.stream, row.group, str(row.length), str(row.pending), str(row.unread), str(row.consumers)
        )
    console.print(table)
