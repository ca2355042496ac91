"""Running the services and the demo, publishing, checking the network file, exporting schemas."""

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

from adapters import load_adapters
from schemas import DeadLetter, Delivery, Item, NetworkFile, Result
from services.cli import (
    ConfigOption,
    PrefixOption,
    RedisOption,
    _require_config,
    app,
    connect,
    console,
    errors,
)
from services.config import ConfigError, load_network
from services.keys import Keys
from services.logs import configure
from services.ops.embedded_redis import DEFAULT_URL


@app.command()
def run(
    service: Annotated[
        str,
        typer.Argument(
            help="all, workers (all but api), or a comma list of: fanout, deliver, amplify, scheduler, "
            "reach, api."
        ),
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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            envvar="HAMAFZA_METRICS_PORT", help="/healthz, /readyz and /metrics on this port (0: any free)."
        ),
    ] = None,
    platforms: Annotated[
        str | None,
        typer.Option(
            envvar="HAMAFZA_DELIVER_PLATFORMS",
            help="deliver: only these platforms' streams, comma-separated (one Deployment per platform).",
        ),
    ] = None,
) -> None:
    """Run services until SIGINT/SIGTERM (then drain in-flight work). Under `all`, the HTTP API runs
    in a process of its own, so its latency does not depend on the workers' load."""
    from services.app import build_runtime, build_workers, parse_services
    from services.ingress.api import serves_anyone
    from services.ops.apart import ApiProcess
    from services.runtime import Settings, run_async

    configure(to_stderr=True)  # logs on stderr; stdout is for data
    try:
        chosen = parse_services(service)
        path = _require_config(config)
        runtime = build_runtime(path, redis_url, Settings.from_env(prefix=prefix))
        apart = "api" in chosen and len(chosen) > 1
        workers = build_workers(
            runtime,
            [name for name in chosen if not (apart and name == "api")],
            api_host=host,
            api_port=port,
            metrics_port=metrics_port,
            platforms=[p.strip() for p in platforms.split(",") if p.strip()] if platforms else None,
        )
    except (ConfigError, ValueError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if apart and serves_anyone(runtime.network):
        workers.companions.append(ApiProcess(path, redis_url, prefix, host, port))
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
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
) -> None:
    """Publish one item: the same XADD an agency makes with redis-cli. With a network file (--config or
    HAMAFZA_CONFIG), an unknown agency or platform is refused before anything is sent."""
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
    if config is not None:
        from services.cli.checks import check_agency, check_platform

        check_agency(config, item.agency)
        for name in item.platforms or []:
            check_platform(name)
            check_agency(config, item.agency, name)

    async def send() -> str:
        redis = connect(redis_url)
        try:
            entry_id = await redis.xadd(Keys(prefix).items, {"data": item.model_dump_json(exclude_none=True)})
            return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        finally:
            await redis.aclose()

    entry = asyncio.run(send())
    console.print(json.dumps({"entry_id": entry, "item_id": item.id or f"e{entry}"}))


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

    configure(to_stderr=True)  # logs on stderr; stdout is for data

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


@app.command("docs")
def docs(
    out: Annotated[Path | None, typer.Option(help="Write openapi.json and asyncapi.json here.")] = None,
    prefix: PrefixOption = "hamafza",
) -> None:
    """The OpenAPI document of the HTTP ingress and the AsyncAPI document of the streams."""
    from adapters import load_adapters as adapters
    from services import streams
    from services.ingress.api import openapi_document

    documents = {
        "openapi": openapi_document(),
        "asyncapi": streams.document(Keys(prefix), sorted(adapters())),
    }
    if out is None:
        sys.stdout.write(json.dumps(documents, ensure_ascii=False, indent=2) + "\n")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (out / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
    console.print(f"wrote openapi.json and asyncapi.json to {out}")
