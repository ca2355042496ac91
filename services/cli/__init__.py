"""`hamafza`: run the services, publish items, read dead letters, export schemas, run the demo.

One Typer application; each module of this package adds the commands of one capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Hamafza: post once, amplify each other everywhere."
)
console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", envvar="HAMAFZA_CONFIG", help="The network file (YAML).", show_default=False
    ),
]
RedisOption = Annotated[str, typer.Option("--redis-url", envvar="REDIS_URL", help="Redis to use.")]
PrefixOption = Annotated[
    str, typer.Option("--prefix", envvar="HAMAFZA_PREFIX", help="Key prefix of every stream.")
]


def connect(redis_url: str) -> Redis:
    """A client for one command: a plain URL or a Sentinel one (redis+sentinel://…)."""
    from services.ops.redis_target import RedisTarget

    return RedisTarget.parse(redis_url).simple_client(socket_connect_timeout=5, socket_timeout=30)


def _require_config(config: Path | None) -> Path:
    if config is None:
        errors.print("[red]No network file: pass --config PATH or set HAMAFZA_CONFIG.[/red]")
        raise typer.Exit(2)
    return config


JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout (one object a line for lists).")]


def main() -> None:
    """The entry point: a dependency that does not answer is one line on stderr and exit 3."""
    from services.cli.failures import UNAVAILABLE_EXIT, unavailable

    try:
        app()
    except Exception as error:
        line = unavailable(error)
        if line is None:
            raise
        errors.print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)  # one line, however long
        raise SystemExit(UNAVAILABLE_EXIT) from None


# Each command module adds its commands to `app` when imported; they import the names above.
from services.cli import accounts, amplifications, dlq, media, reach, run, tokens  # noqa: E402, F401
