"""Serving the HTTP app in-process next to the workers: uvicorn in the running loop, plus feeds."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import uvicorn

from schemas import Item
from services.config import Network
from services.ingress.app import create_app
from services.ingress.deps import ApiState, log
from services.ingress.feeds import FeedService
from services.ingress.ingest import Ingest, Refused
from services.ingress.tokens import TokenBook, register_ingest_secrets
from services.ops.health import Readiness, add_routes, redis_probe
from services.runtime import Runtime

DEFAULT_PORT = 8080


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # FastStream owns SIGINT/SIGTERM in `hamafza run`; it stops us through `ApiService.stop`.
        yield


class ApiService:
    """The HTTP app on uvicorn and the agencies' feed watchers, in the running event loop."""

    def __init__(
        self,
        runtime: Runtime,
        host: str | None = None,
        port: int | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host or os.environ.get("HAMAFZA_API_HOST", "127.0.0.1")
        self.port = port if port is not None else int(os.environ.get("HAMAFZA_API_PORT", str(DEFAULT_PORT)))
        agencies = runtime.network.agencies
        register_ingest_secrets(agencies)
        self.state = ApiState(
            runtime, Ingest(runtime.redis, runtime.keys), TokenBook(agencies, runtime.network.file.council)
        )
        self.app = create_app(self.state)
        # /healthz, /readyz and /metrics on the API's own port too (services.ops.health).
        ready = readiness or Readiness([("redis", redis_probe(runtime.redis))])
        add_routes(self.app, runtime.metrics, ready)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        ingest = self.state.ingest

        async def publish(item: Item) -> str | None:
            try:
                return (await ingest.accept(item, source="feed")).id
            except Refused as refused:  # an id another agency owns: skipped, never retried forever
                log.warning("feed.entry_refused", agency=item.agency, item_id=item.id, detail=refused.message)
                return None

        self.feeds = FeedService(runtime.redis, runtime.keys, agencies, publish)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, access_log=False, lifespan="off"
        )
        server = _Server(config)
        self._server = server

        async def serve() -> None:
            try:
                await server.serve()
            except SystemExit:  # uvicorn exits the process when it cannot bind; we report instead
                raise RuntimeError("uvicorn could not start") from None

        self._task = asyncio.create_task(serve(), name="hamafza-api")
        while not server.started:
            if self._task.done():
                error = self._task.exception()
                raise RuntimeError(f"the API could not listen on {self.host}:{self.port}: {error!r}")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        log.info("api.listening", url=self.url)
        await self.feeds.start()

    async def stop(self) -> None:
        await self.feeds.stop()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None


def serves_anyone(network: Network) -> bool:
    """Whether any agency has an `ingest` section or the council a token: without, every request would
    be refused."""
    return network.file.council is not None or any(
        agency.ingest is not None for agency in network.agencies.values()
    )
