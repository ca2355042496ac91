"""`hamafza`: run the services, publish items, read dead letters, export schemas, run the demo.

One Typer application; each module of this package adds the commands of one capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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


def _require_config(config: Path | None) -> Path:
    if config is None:
        errors.print("[red]No network file: pass --config PATH or set HAMAFZA_CONFIG.[/red]")
        raise typer.Exit(2)
    return config


def main() -> None:
    app()


# Each command module adds its commands to `app` when imported; they import the names above.
from services.cli import accounts, amplifications, dlq, media, reach, run, tokens  # noqa: E402, F401
