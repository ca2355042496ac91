"""`hamafza db`: the records database: migrations, and importing an existing deployment's Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from redis.asyncio import Redis

from services.cli import DatabaseOption, PrefixOption, RedisOption, app, console, errors
from services.keys import Keys
from services.ops.embedded_redis import DEFAULT_URL
from services.records import database

db_app = typer.Typer(no_args_is_help=True, help="The records database (PostgreSQL).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    database_url: DatabaseOption = None,
    revision: Annotated[str, typer.Option(help="Migrate to this revision.")] = "head",
) -> None:
    """Apply the schema migrations shipped with this version (safe to run again)."""
    url = database.configured_url(database_url)

    async def upgrade() -> tuple[str | None, str | None]:
        engine = database.make_engine(url, pool_size=1)
        try:
            return await database.upgrade(engine, revision)
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(upgrade())
    except (OSError, ConnectionError) as error:
        errors.print(f"[red]cannot reach the database at {database.safe_url(url)}: {error}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{database.safe_url(url)}: revision {before or 'none'} → {after}")


@db_app.command("import-redis")
def db_import_redis(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    database_url: DatabaseOption = None,
) -> None:
    """Copy the records an existing deployment keeps in Redis (results, items, reach, dead letters)
    into the database; idempotent, so running it again (or beside the recorder) changes nothing."""
    from services.records.importer import import_redis
    from services.records.repository import Records

    url = database.configured_url(database_url)

    async def run() -> dict[str, int]:
        engine = database.make_engine(url, pool_size=2)
        redis = Redis.from_url(redis_url)
        try:
            await database.check_migrated(engine)
            return await import_redis(redis, Keys(prefix), Records(engine, prefix))
        finally:
            await redis.aclose()
            await engine.dispose()

    try:
        counts = asyncio.run(run())
    except database.NotMigrated as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(json.dumps(counts))
