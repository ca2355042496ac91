"""Where the records database is, whether it answers, and whether it is migrated.

`HAMAFZA_DATABASE_URL` names it (`postgresql+asyncpg://hamafza@db/hamafza`); unset, the workers use
`DEFAULT_URL`, a PostgreSQL on this host. Workers never start a database of their own: they wait for
this one as they wait for Redis. Only `make demo` and the tests fall back to an embedded server
(`services.records.embedded`) when none answers.
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.logs import get_logger

ENV = "HAMAFZA_DATABASE_URL"
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/hamafza"
log = get_logger("hamafza.records")


class NotMigrated(RuntimeError):
    """The database's schema is older (or other) than this code's: `hamafza db upgrade` fixes it."""


def configured_url(explicit: str | None = None) -> str:
    return async_url(explicit or os.environ.get(ENV) or DEFAULT_URL)


def async_url(url: str) -> str:
    """`postgresql://…` (or `postgres://…`, as pg_dump and most hosts write it) with the asyncpg driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


async def answers(url: str, timeout: float = 2.0) -> bool:
    engine = create_async_engine(async_url(url), connect_args={"timeout": timeout})
    try:
        async with asyncio.timeout(timeout + 1), engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def wait_for(url: str, seconds: float) -> None:
    """Wait until the database answers (a restart, a deploy), as the workers wait for Redis."""
    waited = 0.0
    while not await answers(url):
        if waited >= seconds:
            raise ConnectionError(f"the database at {safe_url(url)} did not answer within {seconds:.0f} s")
        log.warning("database.unavailable", url=safe_url(url), waited_seconds=waited)
        await asyncio.sleep(1.0)
        waited += 1.0


# --- migrations ----------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, pointed at the migrations shipped inside this package."""
    folder = Path(str(resources.files("services.records").joinpath("migrations")))
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def check_migrated(engine: AsyncEngine) -> None:
    """Raise NotMigrated, saying what to do, unless the database is at this code's head revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise NotMigrated(
            f"the database at {safe_url(engine.url.render_as_string(hide_password=False))} is not migrated "
            f"(revision {current or 'none'}, this version needs {head}): run `hamafza db upgrade` first"
        )


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply the migrations; returns the revision before and after."""
    before = await current_revision(engine)
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
    return before, await current_revision(engine)


async def ensure_database(url: str) -> None:
    """Create the URL's database if the server lacks it (the demo and tests; production makes its own)."""
    parsed = make_url(async_url(url))
    name = parsed.database
    if not name:
        return
    maintenance = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with maintenance.connect() as connection:
            found: Any = await connection.scalar(
                text("select 1 from pg_database where datname = :name"), {"name": name}
            )
            if not found:
                await connection.execute(text(f'create database "{name}"'))
    finally:
        await maintenance.dispose()


async def drop_database(url: str) -> None:
    parsed = make_url(async_url(url))
    maintenance = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with maintenance.connect() as connection:
            await connection.execute(text(f'drop database if exists "{parsed.database}" with (force)'))
    finally:
        await maintenance.dispose()
