"""An embedded PostgreSQL for laptops and tests: the server shipped in the `pgserver` wheel.

Used only by `make demo` and the tests, when no database answers at `HAMAFZA_DATABASE_URL` (or the
local default). `hamafza run` never starts one: production runs its own PostgreSQL. The server listens
on a Unix socket inside its data directory only, and stops when the process that started it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
import warnings
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from services.records import database

DATA_DIR_ENV = "HAMAFZA_EMBEDDED_DB_DIR"
T = TypeVar("T")


def _blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even inside a running event loop (the demo)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def data_dir_from_env() -> Path | None:
    """`$HAMAFZA_EMBEDDED_DB_DIR`: keep the embedded server's data there (else a temporary directory,
    removed at exit). As root, the server runs as the user `pgserver`, which must reach the directory."""
    chosen = os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else None


@contextlib.contextmanager
def running_server(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server on `data_dir`; yields a URL of its `postgres` database and
    stops the server afterwards (unless another process of ours still uses it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR on servers and in CI
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    uri = make_url(server.get_uri())  # postgresql://postgres:@/postgres?host=<socket dir>
    try:
        yield uri.set(drivername="postgresql+asyncpg", password=None).render_as_string(hide_password=False)
    finally:
        server.cleanup()


def server_answers(url: str) -> bool:
    """Whether the server of `url` answers (its `postgres` database: the named one may not exist yet)."""
    maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    return _blocking(database.answers(maintenance))


@contextlib.contextmanager
def database_url(preferred: str | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """`preferred`, else HAMAFZA_DATABASE_URL, else the local default, if it answers; otherwise a
    database on an embedded server (in `data_dir`, else a temporary directory removed afterwards)."""
    candidate = database.configured_url(preferred)
    if server_answers(candidate):
        yield candidate
        return
    with _embedded_dir(data_dir or data_dir_from_env()) as directory, running_server(directory) as server:
        yield (
            make_url(server)
            .set(database=make_url(candidate).database or "hamafza")
            .render_as_string(hide_password=False)
        )


@contextlib.contextmanager
def _embedded_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="hamafza-pg-") as directory:
        # The server runs as an unprivileged user when we are root: it must reach the directory.
        os.chmod(directory, 0o755)
        yield Path(directory)


@contextlib.contextmanager
def throwaway_database(preferred: str | None = None) -> Iterator[str]:
    """A fresh, migrated database with a unique name on whatever server answers (else an embedded
    one), dropped afterwards: what every test session uses."""
    with database_url(preferred) as server_url:
        url = make_url(server_url).set(database=f"hamafza_test_{uuid.uuid4().hex[:12]}")
        rendered = url.render_as_string(hide_password=False)

        async def create() -> None:
            await database.ensure_database(rendered)
            engine = database.make_engine(rendered, pool_size=1)
            try:
                await database.upgrade(engine)
            finally:
                await engine.dispose()

        _blocking(create())
        try:
            yield rendered
        finally:
            _blocking(database.drop_database(rendered))
