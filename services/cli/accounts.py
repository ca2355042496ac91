"""Item status, paused accounts and stream statistics."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from redis.asyncio import Redis
from rich.table import Table

from services.cli import PrefixOption, RedisOption, app, console
from services.keys import Keys
from services.ops.embedded_redis import DEFAULT_URL


@app.command()
def status(
    item_id: str,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: bool = False,
) -> None:
    """Every delivery of one item: state, post id, URL, reason."""
    from services.ops.status import item_deliveries

    async def read() -> list[Any]:
        redis = Redis.from_url(redis_url)
        try:
            return await item_deliveries(redis, Keys(prefix), item_id)
        finally:
            await redis.aclose()

    rows = asyncio.run(read())
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row.__dict__, ensure_ascii=False))
        return
    table = Table(title=f"item {item_id}")
    for column in ("agency", "platform", "action", "state", "url / reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.agency, row.platform, row.action, row.state, row.url or row.reason or "")
    console.print(table)


accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts paused by rate limits or refused credentials."
)
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("paused")
def accounts_paused(redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza") -> None:
    """Accounts whose deliveries are held, and until when."""
    from datetime import UTC, datetime

    async def read() -> list[tuple[str, str]]:
        redis = Redis.from_url(redis_url)
        try:
            rows = []
            async for key in redis.scan_iter(match=Keys(prefix).pause("*", "*"), count=1000):
                until = await redis.get(key)
                _, platform, agency = key.decode().rsplit(":", 2)
                moment = datetime.fromtimestamp(int(until) / 1000, tz=UTC) if until else None
                rows.append((f"{agency} on {platform}", moment.isoformat() if moment else "?"))
            return rows
        finally:
            await redis.aclose()

    for account, until in asyncio.run(read()):
        console.print(f"{account}: paused until {until}")


@accounts_app.command("resume")
def accounts_resume(
    agency: str, platform: str, redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza"
) -> None:
    """Lift an account's pause (after renewing its credentials) and release its held deliveries."""
    from services.pipeline.ledger import Ledger

    async def resume() -> int:
        redis = Redis.from_url(redis_url)
        try:
            released: int = await Ledger(redis, Keys(prefix)).resume_account(platform, agency)
            return released
        finally:
            await redis.aclose()

    console.print(f"resumed {agency} on {platform}; {asyncio.run(resume())} held deliveries released")


@app.command()
def streams(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Each stream's length, and per consumer group: pending, unread (lag), consumers."""
    from services.ops import janitor

    async def read() -> list[janitor.GroupStats]:
        redis = Redis.from_url(redis_url)
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
