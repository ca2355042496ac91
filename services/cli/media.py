"""Checking a media URL as the media step would: for operators setting `media.allow_hosts`, and for
a PR office asking why a picture was rejected."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from services.cli import ConfigOption, app, console, errors

media_app = typer.Typer(no_args_is_help=True, help="Media URLs as Hamafza fetches them.")
app.add_typer(media_app, name="media")


@media_app.command("check")
def media_check(
    url: Annotated[str, typer.Argument(help="The picture's or video's address, as an item would give it.")],
    config: ConfigOption = None,
) -> None:
    """Fetch URL with the media step's rules (the network file's `media.allow_hosts` if given) and
    say, for every platform, whether it would be sent or rejected and why. Exit 1 if not fetched."""
    from adapters import load_adapters
    from services.config import ConfigError, load_network
    from services.pipeline.media import rules_of
    from services.pipeline.media_fetch import MediaFetcher, MediaRefused
    from services.pipeline.media_guard import FetchedMedia, kind_of, media_violation, megabytes
    from services.runtime import Settings

    settings = Settings.from_env()
    registry = load_adapters()
    try:
        allow_hosts = load_network(config, registry).file.media.allow_hosts if config is not None else []
    except ConfigError as error:
        errors.print(str(error), highlight=False, markup=False)
        raise typer.Exit(2) from None
    rules = [rules_of(cls) for cls in registry.values() if cls.uploads_media and cls.media_limit > 0]

    async def fetch() -> FetchedMedia:
        fetcher = MediaFetcher(allow_hosts, timeout_seconds=settings.media_fetch_timeout_seconds)
        try:
            download = await fetcher.fetch(url, lambda _type: settings.media_max_bytes)
        except MediaRefused as refusal:
            return FetchedMedia(0, url, refused=str(refusal))
        finally:
            await fetcher.aclose()
        return FetchedMedia(0, url, download.content_type, download.size, download.truncated)

    fetched = asyncio.run(fetch())
    if fetched.refused is not None:
        errors.print(f"[red]not fetched:[/red] {fetched.refused}", highlight=False)
        raise typer.Exit(1)
    assert fetched.content_type is not None
    size = ("over " if fetched.truncated else "") + megabytes(fetched.size)
    console.print(f"{fetched.content_type} ({kind_of(fetched.content_type)}), {size}", highlight=False)
    table = Table(title="per platform")
    table.add_column("platform")
    table.add_column("verdict", overflow="fold")
    for platform_rules in sorted(rules, key=lambda r: r.platform):
        problem = media_violation(platform_rules, [fetched], settings.media_max_bytes)
        table.add_row(platform_rules.platform, "sent" if problem is None else problem)
    console.print(table)
