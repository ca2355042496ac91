"""The composition root: the only place that knows which adapters exist and wires the services.

`hamafza run all` and `hamafza run <service>` build one `Workers` here; tests and the demo do the
same in-process. Any number of processes may run side by side: they join the same consumer groups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from faststream import FastStream
from faststream.redis import RedisBroker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters import Adapter, load_adapters
from services.config import Network, load_network
from services.governance.desk import ApprovalDesk
from services.ingress.updates import UpdateReader
from services.logs import get_logger, redactor
from services.ops import connection, janitor
from services.ops.gauges import approvals_source, paused_source, streams_source
from services.ops.health import OpsServer, Readiness, groups_probe, redis_probe
from services.ops.metrics import mark_process_dead
from services.ops.redis_target import RedisTarget
from services.pipeline import amplify, deliver, fanout
from services.pipeline.budget import AccountBudget
from services.pipeline.consumer import InFlight, consume, ensure_group
from services.pipeline.heartbeat import Heartbeat
from services.pipeline.ledger import Ledger
from services.pipeline.media import MediaStep
from services.pipeline.schedule import Schedule
from services.pipeline.scheduler import Scheduler
from services.runtime import Runtime, Settings

if TYPE_CHECKING:
    from services.ingress.api import ApiService

log = get_logger("hamafza.app")

SERVICES = ("fanout", "deliver", "amplify", "scheduler", "reach", "watch", "api")
WORKER_SERVICES = tuple(service for service in SERVICES if service != "api")


def parse_services(spec: str) -> list[str]:
    """`all`, `workers` (all but the API), or a comma-separated list such as `fanout,amplify`."""
    if spec == "all":
        return list(SERVICES)
    if spec == "workers":
        return list(WORKER_SERVICES)
    chosen = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [service for service in chosen if service not in SERVICES]
    if unknown or not chosen:
        raise ValueError(
            f"unknown service {', '.join(unknown) or repr(spec)} (known: all, workers, {', '.join(SERVICES)})"
        )
    return chosen


class Background(Protocol):
    """A loop a service runs beside its stream consumers (sweepers, update readers)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_adapters(
    network: Network, registry: dict[str, type[Adapter[Any]]] | None = None
) -> dict[str, Adapter[Any]]:
    """One adapter per registered platform, pointed at the network file's api_base if it sets one."""
    classes = registry if registry is not None else load_adapters()
    built: dict[str, Adapter[Any]] = {}
    for platform, adapter_class in classes.items():
        settings = network.file.platforms.get(platform)
        if settings is None:
            built[platform] = adapter_class()
        else:
            built[platform] = adapter_class(
                api_base=settings.api_base,
                timeout_seconds=settings.timeout_seconds,
                web_base=settings.web_base,
            )
    return built


def build_runtime(
    config: str | Path | Network,
    redis_url: str,
    settings: Settings | None = None,
    registry: dict[str, type[Adapter[Any]]] | None = None,
) -> Runtime:
    classes = registry if registry is not None else load_adapters()
    network = config if isinstance(config, Network) else load_network(config, classes)
    redactor.register(network.secrets)
    chosen = settings or Settings.from_env()
    # redis-py 8's asyncio pool holds 100 connections and *raises* MaxConnectionsError when they are
    # all in use. With up to `max_in_flight` deliveries at once plus the other services, a busy worker
    # hit that (found by `make chaos`): a post that went out but whose outcome could not be recorded
    # stayed `sending` and ended `unconfirmed`. A blocking pool makes callers wait for a connection.
    # A Sentinel URL (redis+sentinel://…) gives a client that follows failovers (ops.redis_target).
    client = RedisTarget.parse(redis_url).client(max_connections=max(100, chosen.max_in_flight + 100))
    return Runtime(
        settings=chosen,
        network=network,
        adapters=build_adapters(network, classes),
        redis=client,  # closing the client closes its pool
        redis_url=redis_url,
    )


@dataclass
class Workers:
    """A broker with the chosen services' subscribers, and the scheduler loop if chosen."""

    runtime: Runtime
    broker: RedisBroker
    scheduler: Scheduler | None
    streams: list[tuple[str, str]]  # (stream, group) pairs consumed
    api: ApiService | None = None  # HTTP ingress and feed watchers (services/api.py)
    in_flight: InFlight | None = None  # deliveries whose platform calls run past their batch
    background: list[Background] = field(default_factory=list)  # approvals desk, update readers
    ops: OpsServer | None = None  # /healthz, /readyz, /metrics on HAMAFZA_METRICS_PORT
    companions: list[Background] = field(default_factory=list)  # the API's own process

    async def start_companions(self) -> None:
        for companion in self.companions:
            await companion.start()

    async def stop_companions(self) -> None:
        for companion in self.companions:
            await companion.stop()

    async def start_ops(self) -> None:
        # Before waiting for Redis: /healthz answers, and /readyz says what is missing.
        if self.ops is not None:
            await self.ops.start()

    async def stop_ops(self) -> None:
        if self.ops is not None:
            await self.ops.stop()
        mark_process_dead()

    async def prepare(self) -> None:
        """Create the consumer groups, waiting for Redis if it is not up yet (a restart, a deploy)."""
        waited = 0.0
        while True:
            try:
                for stream, group in self.streams:
                    await ensure_group(self.runtime.redis, stream, group)
                return
            except (RedisConnectionError, RedisTimeoutError) as error:
                if waited >= self.runtime.settings.startup_wait_seconds:
                    raise
                log.warning("redis.unavailable", detail=str(error), waited_seconds=waited)
                await asyncio.sleep(1.0)
                waited += 1.0

    async def start(self) -> None:
        connection.watch.bind(self.runtime.redis)
        await self.start_ops()
        await self.prepare()
        await self.broker.start()
        if self.scheduler is not None:
            await self.scheduler.start()
        for loop in self.background:
            await loop.start()
        if self.api is not None:
            await self.api.start()
        await self.start_companions()

    async def stop(self) -> None:
        await self.stop_companions()
        if self.api is not None:
            await self.api.stop()
        for loop in self.background:
            await loop.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.broker.stop()
        await self.drain()
        await self.forget_consumers()
        await self.runtime.aclose()
        await self.stop_ops()
        await self.runtime.redis.aclose()

    async def drain(self) -> None:
        """No more reading: let the platform calls in flight finish and record their outcomes."""
        if self.in_flight is not None and self.in_flight.count:
            log.info("deliver.draining", in_flight=self.in_flight.count)
            await self.in_flight.drain(timeout=self.runtime.settings.drain_seconds)

    async def forget_consumers(self) -> None:
        """After draining: remove this process's consumers from their groups if nothing is pending."""
        names = [self.runtime.consumer, f"{self.runtime.consumer}-claimer"]
        for stream, group in self.streams:
            try:
                await janitor.remove_consumers_if_idle(self.runtime.redis, stream, group, names)
            except Exception:  # leaving them is harmless: the janitor removes them later
                log.warning("consumers.not_removed", stream=stream, group=group, exc_info=True)

    def app(self) -> FastStream:
        """A FastStream application (signals, graceful shutdown) for `hamafza run`."""
        application = FastStream(self.broker, logger=logging.getLogger("hamafza.app"))
        connection.watch.bind(self.runtime.redis)
        application.on_startup(self.start_ops)
        application.on_startup(self.prepare)
        if self.scheduler is not None:
            scheduler = self.scheduler
            application.after_startup(scheduler.start)
            application.on_shutdown(scheduler.stop)
        for loop in self.background:
            application.after_startup(loop.start)
            application.on_shutdown(loop.stop)
        if self.api is not None:
            application.after_startup(self.api.start)
            application.on_shutdown(self.api.stop)
        application.after_startup(self.start_companions)
        application.on_shutdown(self.stop_companions)

        async def close() -> None:
            await self.drain()
            await self.forget_consumers()
            await self.runtime.aclose()
            await self.stop_ops()
            await self.runtime.redis.aclose()

        application.after_shutdown(close)
        return application


def build_workers(
    runtime: Runtime,
    services: Iterable[str] = SERVICES,
    api_host: str | None = None,
    api_port: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
    platforms: Iterable[str] | None = None,
) -> Workers:
    """The chosen services; with `metrics_port`, the ops endpoints too (0: a free port); with
    `platforms`, deliver consumes only those platforms' streams (one Deployment per platform)."""
    chosen = set(services)
    unknown = chosen - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))} (known: {', '.join(SERVICES)})")
    connection.install()  # a lost Redis: one warning and one "back", not a traceback per read
    broker = RedisTarget.parse(runtime.redis_url).broker(
        logger=logging.getLogger("hamafza.broker"),
        log_level=logging.DEBUG,
        graceful_timeout=30,
    )
    ledger = Ledger(
        runtime.redis,
        runtime.keys,
        runtime.metrics,
        claim_replicas=runtime.settings.claim_replicas,
        claim_replica_timeout_ms=runtime.settings.claim_replica_timeout_ms,
    )
    keys, settings = runtime.keys, runtime.settings
    streams: list[tuple[str, str]] = []

    def wire(stream: str, group: str, handler: Any) -> None:
        streams.append((stream, group))
        consume(
            broker,
            runtime.redis,
            stream=stream,
            group=group,
            consumer=runtime.consumer,
            handler=handler,
            batch_size=settings.batch_size,
            claim_idle_ms=settings.claim_idle_ms,
        )

    in_flight: InFlight | None = None
    media = MediaStep(runtime)  # one media fetcher and store for fan-out and deliver
    if "fanout" in chosen:
        wire(keys.items, fanout.GROUP, fanout.FanOut(runtime, ledger, media).handle)
    if "deliver" in chosen:
        budget = AccountBudget(
            runtime.redis, runtime.redis_url, settings.prefix, runtime.adapters, runtime.network
        )
        worker = deliver.Deliver(runtime, ledger, budget, media)
        in_flight = worker.in_flight
        for platform in _deliver_platforms(runtime, platforms):
            wire(keys.deliveries(platform), deliver.GROUP, worker.handle)
    # A live deliver worker renews what it holds (services/pipeline/heartbeat.py).
    background: list[Background] = [Heartbeat.of(worker, ledger)] if "deliver" in chosen else []
    desk = ApprovalDesk(runtime)
    if "amplify" in chosen:
        wire(
            keys.results,
            amplify.GROUP,
            amplify.Amplify(runtime, ledger, desk.request, desk.send_intent).handle,
        )
        background.append(desk)  # expiry, unsent requests, what an approval still holds
    if "watch" in chosen:
        from services.ingress.channels import ChannelWatcher

        channels = ChannelWatcher(runtime, ledger, media)
        background.append(channels)  # posts of watched channels, settled into items
        readers = [desk.on_update, channels.on_update]
        background.append(UpdateReader(runtime, readers, poll_seconds=runtime.settings.updates_poll_seconds))
    if "reach" in chosen:
        from services.reach import collect as reach

        reacher = reach.Reach(runtime)
        wire(keys.results, reach.GROUP, reacher.handle_results)
        wire(keys.reach.due, reach.GROUP, reacher.handle_due)
    scheduler: Scheduler | None = None
    if "scheduler" in chosen:
        scheduler = Scheduler(runtime, [Schedule(key) for key in keys.schedules])
        background.append(janitor.Janitor(runtime))  # stream hygiene, where the scheduler runs
    ready = readiness(runtime, streams)
    api = _api_service(runtime, api_host, api_port, ready) if "api" in chosen else None
    runtime.metrics.add_source(streams_source(runtime.redis, runtime.keys, list(runtime.adapters)))
    runtime.metrics.add_source(paused_source(runtime.redis, runtime.keys))
    runtime.metrics.add_source(approvals_source(runtime.redis, runtime.keys))
    ops = OpsServer(runtime.metrics, ready, metrics_host, metrics_port) if metrics_port is not None else None
    return Workers(runtime, broker, scheduler, streams, api, in_flight, background, ops)


def _deliver_platforms(runtime: Runtime, platforms: Iterable[str] | None) -> list[str]:
    if platforms is None:
        return list(runtime.adapters)
    chosen = list(dict.fromkeys(platforms))
    unknown = [platform for platform in chosen if platform not in runtime.adapters]
    if unknown:
        known = ", ".join(sorted(runtime.adapters))
        raise ValueError(f"unknown platform {', '.join(unknown)} (known: {known})")
    return chosen


def readiness(runtime: Runtime, streams: list[tuple[str, str]]) -> Readiness:
    """What `/readyz` asks: Redis, then this process's consumer groups. A new dependency (the
    database) adds its probe here: `ready.add("database", probe)`."""
    ready = Readiness([("redis", redis_probe(runtime.redis))])
    if streams:
        ready.add("consumer_groups", groups_probe(runtime.redis, streams))
    return ready


def _api_service(runtime: Runtime, host: str | None, port: int | None, ready: Readiness) -> ApiService | None:
    """HTTP ingress on HAMAFZA_API_HOST:HAMAFZA_API_PORT (127.0.0.1:8080), if any agency has `ingest`."""
    from services.ingress.api import ApiService, serves_anyone

    if not serves_anyone(runtime.network):
        log.info("api.disabled", reason="no agency has an `ingest` section in the network file")
        return None
    return ApiService(runtime, host, port, ready)
