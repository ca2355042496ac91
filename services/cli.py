"""`hamafza`: run the services, publish items, read dead letters, export schemas, run the demo."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from adapters import load_adapters
from schemas import DeadLetter, Delivery, Item, NetworkFile, Result
from services.config import ConfigError, load_network
from services.embedded_redis import DEFAULT_URL
from services.keys import Keys
from services.logs import configure

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Hamafza: post once, amplify each other everywhere."
)
dlq_app = typer.Typer(no_args_is_help=True, help="Read the dead-letter stream.")
app.add_typer(dlq_app, name="dlq")
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


@app.command()
def run(
    service: Annotated[
        str, typer.Argument(help="all, or one of: fanout, deliver, amplify, scheduler.")
    ] = "all",
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Run services in this process until SIGINT/SIGTERM (then drain in-flight work)."""
    from services.app import SERVICES, build_runtime, build_workers
    from services.runtime import Settings

    configure()
    chosen = list(SERVICES) if service == "all" else [service]
    try:
        runtime = build_runtime(_require_config(config), redis_url, Settings.from_env(prefix=prefix))
        workers = build_workers(runtime, chosen)
    except (ConfigError, ValueError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    asyncio.run(workers.app().run())


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Validate the network file; every problem is reported with the path of its key."""
    try:
        network = load_network(_require_config(config), load_adapters())
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"[green]ok[/green]: {len(network.agencies)} agencies, {len(network.accounts)} accounts, "
        f"{len(network.file.networks)} networks"
    )


@app.command()
def publish(
    agency: Annotated[str | None, typer.Option(help="The publishing agency.")] = None,
    text: Annotated[str | None, typer.Option(help="The item's text.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="An item as JSON ('-' for stdin).")
    ] = None,
    link: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeatable.")] = None,
    campaign: Annotated[str | None, typer.Option()] = None,
    platform: Annotated[list[str] | None, typer.Option(help="Only this platform; repeatable.")] = None,
    item_id: Annotated[str | None, typer.Option("--id", help="Idempotency key.")] = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Publish one item: the same XADD an agency makes with redis-cli."""
    if file is not None:
        raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        document: dict[str, Any] = json.loads(raw)
    else:
        document = {"agency": agency, "text": text}
        optional = {"link": link, "tags": tag, "campaign": campaign, "platforms": platform, "id": item_id}
        document.update({key: value for key, value in optional.items() if value})
    try:
        item = Item.model_validate(document)
    except ValidationError as error:
        errors.print(f"[red]not a valid item:[/red] {error}")
        raise typer.Exit(2) from None

    async def send() -> str:
        redis = Redis.from_url(redis_url)
        try:
            entry_id = await redis.xadd(Keys(prefix).items, {"data": item.model_dump_json(exclude_none=True)})
            return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        finally:
            await redis.aclose()

    entry = asyncio.run(send())
    console.print(json.dumps({"entry_id": entry, "item_id": item.id or f"e{entry}"}))


@app.command()
def status(
    item_id: str,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: bool = False,
) -> None:
    """Every delivery of one item: state, post id, URL, reason."""
    from services.status import item_deliveries

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


@dlq_app.command("list")
def dlq_list(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
    count: Annotated[int | None, typer.Option(help="At most this many.")] = None,
) -> None:
    """Dead letters, oldest first, each with the reason a person can act on."""
    from services.status import dead_letters

    async def read() -> list[tuple[str, DeadLetter]]:
        redis = Redis.from_url(redis_url)
        try:
            return await dead_letters(redis, Keys(prefix), count)
        finally:
            await redis.aclose()

    letters = asyncio.run(read())
    if as_json:
        for entry_id, letter in letters:
            row = {"id": entry_id, **letter.model_dump(mode="json", exclude={"delivery"}, exclude_none=True)}
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "reason", "item", "agency", "platform", "action", "attempts", "detail"):
        table.add_column(column, overflow="fold")
    for entry_id, letter in letters:
        table.add_row(
            entry_id,
            letter.reason.value,
            letter.item_id or "",
            letter.agency or "",
            letter.platform or "",
            letter.action.value if letter.action else "",
            str(letter.attempts),
            letter.detail,
        )
    console.print(table)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(help="Write one .json file per model here.")] = None,
) -> None:
    """JSON Schema of the wire format and the network file."""
    models: dict[str, type[BaseModel]] = {
        "item": Item,
        "delivery": Delivery,
        "result": Result,
        "dead-letter": DeadLetter,
        "network-file": NetworkFile,
    }
    documents = {name: model.model_json_schema() for name, model in models.items()}
    if out is None:
        console.print_json(json.dumps(documents, ensure_ascii=False))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (out / f"{name}.schema.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
    console.print(f"wrote {len(documents)} schemas to {out}")


@app.command()
def sandbox(
    host: str = "127.0.0.1", port: Annotated[int, typer.Option(help="0 picks a free port.")] = 8090
) -> None:
    """Serve the platform fakes (X, Telegram, Bale…) for local runs and tests."""
    from sandbox import serve

    configure()

    async def forever() -> None:
        running = await serve(host, port)
        console.print(
            f"sandbox on {running.url}: " + ", ".join(f"{running.url}/{p}" for p in running.sandbox.fakes)
        )
        try:
            await asyncio.Event().wait()
        finally:
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forever())


@app.command()
def demo(
    redis_url: Annotated[str | None, typer.Option("--redis-url", envvar="REDIS_URL")] = None,
    verbose: Annotated[bool, typer.Option(help="Show every log line.")] = False,
) -> None:
    """The whole job locally: Redis (embedded if none answers), the sandbox, the services, sample items."""
    from services.demo import run_demo

    os.environ.setdefault("HAMAFZA_LOG_FORMAT", "console")
    raise typer.Exit(asyncio.run(run_demo(redis_url, verbose=verbose, console=console)))


def main() -> None:
    app()
