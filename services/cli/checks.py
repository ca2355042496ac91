"""Checks of names given on the command line: unknown ones are a clear line and exit 2."""

from __future__ import annotations

import difflib
from pathlib import Path

import typer

from services.cli import errors


def _refuse(kind: str, name: str, known: list[str]) -> None:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known)) or 'none'})"
    errors.print(f"[red]unknown {kind} {name!r}{hint}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def check_platform(platform: str) -> None:
    from adapters import load_adapters

    known = sorted(load_adapters())
    if platform not in known:
        _refuse("platform", platform, known)


def check_agency(config: Path, agency: str, platform: str | None = None) -> None:
    """The agency is in the network file (and has an account on `platform`, if given)."""
    from adapters import load_adapters
    from services.config import ConfigError, load_network

    try:
        network = load_network(config, load_adapters())
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if agency not in network.agencies:
        _refuse("agency", agency, list(network.agencies))
    if platform is not None and network.account(agency, platform) is None:
        errors.print(
            f"[red]agency {agency!r} has no {platform} account in {config}[/red]",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
