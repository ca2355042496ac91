"""API tokens: an agency's for the HTTP ingress, the council's for the report."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.cli import app, console, errors

token_app = typer.Typer(no_args_is_help=True, help="API tokens: agencies' for the ingress, the council's.")
app.add_typer(token_app, name="token")


@token_app.command("new")
def token_new(
    agency: Annotated[str | None, typer.Argument(help="The agency the token publishes as.")] = None,
    council: Annotated[
        bool, typer.Option("--council", help="The council's token: reads GET /v1/report, publishes nothing.")
    ] = False,
) -> None:
    """Print a new API token (shown once) and the hash line for the network file."""
    from services.ingress.tokens import new_token, token_sha256

    if council == (agency is not None):
        errors.print("[red]give an agency (hamafza token new AGENCY) or --council, not both[/red]")
        raise typer.Exit(2)
    token = new_token()
    who = "the council" if council else agency
    console.print(f"token for {who} (give it to them; it is not stored anywhere):", highlight=False)
    sys.stdout.write(token + "\n")
    if council:
        console.print("network file, at the top:", highlight=False)
        sys.stdout.write(f'council:\n  api_token_sha256: "{token_sha256(token)}"\n')
        return
    console.print(f"network file, agencies.{agency}.ingest:", highlight=False)
    sys.stdout.write(f'  api_token_sha256: "{token_sha256(token)}"\n')
