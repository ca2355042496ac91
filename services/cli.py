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
from schemas import DeadLetter, DeadReason, Delivery, Item, NetworkFile, Result
from services.config import ConfigError, load_network
from services.keys import Keys
from services.logs import configure
from services.ops.embedded_redis import DEFAULT_URL

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
        str, typer.Argument(help="all, or one of: fanout, deliver, amplify, scheduler, reach.")
    ] = "all",
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    host: Annotated[
        str | None, typer.Option(envvar="HAMAFZA_API_HOST", help="api: address to listen on (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="HAMAFZA_API_PORT", help="api: port to listen on (8080).")
    ] = None,
) -> None:
    """Run services in this process until SIGINT/SIGTERM (then drain in-flight work)."""
    from services.app import SERVICES, build_runtime, build_workers
    from services.runtime import Settings, run_async

    configure()
    chosen = list(SERVICES) if service == "all" else [service]
    try:
        runtime = build_runtime(_require_config(config), redis_url, Settings.from_env(prefix=prefix))
        workers = build_workers(runtime, chosen, api_host=host, api_port=port)
    except (ConfigError, ValueError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    run_async(workers.app().run())


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
    from services.ops.status import item_deliveries

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


def _dead_letters(redis_url: str, prefix: str) -> tuple[Redis, Any]:
    from services.ops.dlq import DeadLetters

    redis = Redis.from_url(redis_url)
    return redis, DeadLetters(redis, Keys(prefix))


ReasonOption = Annotated[DeadReason | None, typer.Option(help="Only dead letters with this reason.")]


@dlq_app.command("list")
def dlq_list(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
    count: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    reason: ReasonOption = None,
) -> None:
    """Dead letters, oldest first, each with the reason a person can act on."""

    async def read() -> list[tuple[str, DeadLetter]]:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            found: list[tuple[str, DeadLetter]] = await letters.select(count, reason)
            return found
        finally:
            await redis.aclose()

    letters = asyncio.run(read())
    if as_json:
        for entry_id, letter in letters:
            row = {
                "id": entry_id,
                **letter.model_dump(mode="json", exclude={"delivery", "payload"}, exclude_none=True),
            }
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


@dlq_app.command("show")
def dlq_show(letter_id: str, redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza") -> None:
    """One dead letter in full: reason, detail, the delivery or the raw entry."""

    async def read() -> DeadLetter | None:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            found: DeadLetter | None = await letters.get(letter_id)
            return found
        finally:
            await redis.aclose()

    letter = asyncio.run(read())
    if letter is None:
        errors.print(f"[red]no dead letter {letter_id}[/red]")
        raise typer.Exit(1)
    console.print_json(letter.model_dump_json(exclude_none=True))


@dlq_app.command("replay")
def dlq_replay(
    letter_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-letter ids; none: all that match.")
    ] = None,
    reason: ReasonOption = None,
    force: Annotated[
        bool, typer.Option(help="Also replay `unconfirmed` ones: only after checking the post is not there.")
    ] = False,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Send dead letters through the pipeline again; the ledger keeps posted ones from going out twice."""
    from rich.progress import Progress

    async def replay() -> dict[str, int]:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            selected = await letters.select(None, reason)
            if letter_ids:
                wanted = set(letter_ids)
                selected = [(i, letter) for i, letter in selected if i in wanted]
            with Progress(console=console) as progress:
                task = progress.add_task("replaying", total=len(selected))
                report = await letters.replay(
                    selected, force=force, progress=lambda _: progress.advance(task)
                )
            return dict(report.outcomes)
        finally:
            await redis.aclose()

    outcomes = asyncio.run(replay())
    console.print(json.dumps(outcomes))
    if outcomes.get("needs_force"):
        errors.print(
            f"{outcomes['needs_force']} unconfirmed deliveries were left: check the accounts, then --force"
        )


@dlq_app.command("purge")
def dlq_purge(
    letter_ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids.")] = None,
    reason: ReasonOption = None,
    purge_all: Annotated[
        bool, typer.Option("--all", help="Every dead letter (that matches --reason).")
    ] = False,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Delete dead letters that need nothing more."""
    if not letter_ids and not purge_all:
        errors.print("[red]name dead-letter ids, or pass --all[/red]")
        raise typer.Exit(2)

    async def purge() -> int:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            selected = [i for i, _ in await letters.select(None, reason)]
            chosen = selected if purge_all else [i for i in selected if i in set(letter_ids or [])]
            deleted: int = await letters.purge(chosen)
            return deleted
        finally:
            await redis.aclose()

    console.print(f"purged {asyncio.run(purge())}")


accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts paused by rate limits or refused credentials."
)
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("paused")
def accounts_paused(redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza") -> None:
    """Accounts whose deliveries are held, and until when."""
    from datetime import UTC, datetime

    async def read() -> list[tuple[str, str]]:
        redis = Redis.from_url(redis_url)
        try:
            rows = []
            async for key in redis.scan_iter(match=Keys(prefix).pause("*", "*"), count=1000):
                until = await redis.get(key)
                _, platform, agency = key.decode().rsplit(":", 2)
                moment = datetime.fromtimestamp(int(until) / 1000, tz=UTC) if until else None
                rows.append((f"{agency} on {platform}", moment.isoformat() if moment else "?"))
            return rows
        finally:
            await redis.aclose()

    for account, until in asyncio.run(read()):
        console.print(f"{account}: paused until {until}")


@accounts_app.command("resume")
def accounts_resume(
    agency: str, platform: str, redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza"
) -> None:
    """Lift an account's pause (after renewing its credentials) and release its held deliveries."""
    from services.pipeline.ledger import Ledger

    async def resume() -> int:
        redis = Redis.from_url(redis_url)
        try:
            released: int = await Ledger(redis, Keys(prefix)).resume_account(platform, agency)
            return released
        finally:
            await redis.aclose()

    console.print(f"resumed {agency} on {platform}; {asyncio.run(resume())} held deliveries released")


@app.command()
def streams(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Each stream's length, and per consumer group: pending, unread (lag), consumers."""
    from services.ops import janitor

    async def read() -> list[janitor.GroupStats]:
        redis = Redis.from_url(redis_url)
        keys = Keys(prefix)
        try:
            names = [
                key.decode() async for key in redis.scan_iter(match=f"{prefix}:deliveries:*", _type="stream")
            ]
            found: list[janitor.GroupStats] = await janitor.group_stats(
                redis, [keys.items, *sorted(names), keys.results]
            )
            return found
        finally:
            await redis.aclose()

    rows = asyncio.run(read())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.__dict__) + "\n")
        return
    table = Table(title="streams")
    for column in ("stream", "group", "length", "pending", "unread", "consumers"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.stream, row.group, str(row.length), str(row.pending), str(row.unread), str(row.consumers)
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
    from services.demo.run import run_demo

    os.environ.setdefault("HAMAFZA_LOG_FORMAT", "console")
    raise typer.Exit(asyncio.run(run_demo(redis_url, verbose=verbose, console=console)))


reach_app = typer.Typer(no_args_is_help=True, help="Reach snapshots: post metrics and account audiences.")
app.add_typer(reach_app, name="reach")


@reach_app.command("poll")
def reach_poll(
    every_post: Annotated[
        bool, typer.Option("--all", help="Every post ever tracked, not only those within the offsets.")
    ] = False,
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Take a reach snapshot now (metrics batched per platform and account), as the service would."""
    from services.app import build_runtime
    from services.reach.collect import Reach
    from services.runtime import Settings

    configure()
    try:
        runtime = build_runtime(_require_config(config), redis_url, Settings.from_env(prefix=prefix))
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None

    async def poll() -> int:
        try:
            return len(await Reach(runtime).poll(every_post=every_post))
        finally:
            await runtime.aclose()
            await runtime.redis.aclose()

    console.print(json.dumps({"snapshots": asyncio.run(poll())}))


@app.command()
def report(
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this day: 1404-01-05 (Jalali) or 2025-03-25.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day, inclusive.")] = None,
    agency: Annotated[str | None, typer.Option(help="Only this agency and what involves it.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, json, csv or html.")] = "table",
    lang: Annotated[str, typer.Option(help="fa or en.")] = "fa",
    calendar: Annotated[str, typer.Option(help="jalali or gregorian.")] = "jalali",
    csv_table: Annotated[
        str, typer.Option("--csv-table", help="With --format csv: agencies, matrix, platforms or items.")
    ] = "agencies",
    top: Annotated[int, typer.Option(help="How many top items.")] = 10,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """The synergy report: who published, who amplified whom, and what reach it got."""
    from services.reach import report as reporting

    if (
        output_format not in reporting.FORMATS
        or lang not in reporting.LABELS
        or calendar
        not in (
            "jalali",
            "gregorian",
        )
    ):
        errors.print("[red]--format table|json|csv|html, --lang fa|en, --calendar jalali|gregorian[/red]")
        raise typer.Exit(2)
    try:
        filters = reporting.Filters(
            campaign=campaign,
            since=reporting.parse_day(since),
            until=reporting.parse_day(until),
            agency=agency,
        )
        names = (
            {k: v.name for k, v in load_network(config, load_adapters()).agencies.items()} if config else {}
        )
    except (reporting.ReportError, ConfigError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None

    async def build() -> dict[str, Any]:
        redis = Redis.from_url(redis_url)
        try:
            return await reporting.build_report(
                redis,
                Keys(prefix),
                filters=filters,
                agency_names=names,
                platform_titles=reporting.platform_titles(lang),
                top=top,
                calendar=calendar,
            )
        finally:
            await redis.aclose()

    document = asyncio.run(build())
    if output_format == "table":
        target = Console(file=output.open("w", encoding="utf-8"), width=160) if output else console
        reporting.print_table(document, target, lang, calendar)
        return
    if output_format == "json":
        text = reporting.to_json(document)
    elif output_format == "csv":
        text = reporting.to_csv(document, csv_table)
    else:
        from services.reach.report_html import render_html

        text = render_html(document, lang, calendar)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"wrote {output}")


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


@app.command("docs")
def docs(
    out: Annotated[Path | None, typer.Option(help="Write openapi.json and asyncapi.json here.")] = None,
    prefix: PrefixOption = "hamafza",
) -> None:
    """The OpenAPI document of the HTTP ingress and the AsyncAPI document of the streams."""
    from adapters import load_adapters as adapters
    from services.ingress.api import asyncapi_document, openapi_document

    documents = {
        "openapi": openapi_document(),
        "asyncapi": asyncapi_document(prefix, sorted(adapters())),
    }
    if out is None:
        sys.stdout.write(json.dumps(documents, ensure_ascii=False, indent=2) + "\n")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (out / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
    console.print(f"wrote openapi.json and asyncapi.json to {out}")


def main() -> None:
    app()
