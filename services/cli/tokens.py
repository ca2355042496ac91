"""Agencies' API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.cli import app, console

token_app = typer.Typer(no_args_is_help=True, help="Agencies' API tokens for the HTTP ingress.")
app.add_typer(token_app, name="token")


@token_app.command("new")
def token_new(agency: Annotated[str, typer.Argument(help="The agency the token publishes as.")]) -> None:
    """Print a new API token (shown once) and the hash line for the agency's `ingest` section."""
    from services.ingress.tokens import new_token, token_sha256

    token = new_token()
    console.print(f"token for {agency} (give it to the agency; it is not stored anywhere):", highlight=False)
    sys.stdout.write(token + "\n")
    console.print(f"network file, agencies.{agency}.ingest:", highlight=False)
    sys.stdout.write(f'  api_token_sha256: "{token_sha256(token)}"\n')
