"""`/healthz`, `/readyz` and `/metrics`: what an orchestrator and Prometheus ask every process.

- `/healthz`: the process lives and its event loop answers (200, no I/O).
- `/readyz`: every readiness probe answers within its timeout: Redis (PING), the database when one is
  configured, and for workers their consumer groups. 503 with the failing probes otherwise.
- `/metrics`: the Prometheus text format, after Redis-derived gauges are refreshed.

Readiness is a list of named probes (`Readiness.add`), so a new dependency plugs in with one line
(see `services.app.readiness`). Workers and `run all` serve these on `HAMAFZA_METRICS_PORT` from a
small aiohttp server (`OpsServer`); the HTTP API also serves them on its own port (`add_routes`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from redis.asyncio import Redis

from services.logs import get_logger
from services.ops.metrics import CONTENT_TYPE, Metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

log = get_logger("hamafza.health")

Probe = Callable[[], Awaitable[None]]  # raises (or times out) when the dependency does not answer
DEFAULT_PORT = 9464  # the port Prometheus' exporter list gives to application metrics


@dataclass
class Readiness:
    probes: list[tuple[str, Probe]] = field(default_factory=list)
    timeout_seconds: float = 2.0

    def add(self, name: str, probe: Probe) -> None:
        self.probes.append((name, probe))

    async def check(self) -> tuple[bool, dict[str, str]]:
        async def one(probe: Probe) -> str:
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    await probe()
            except TimeoutError:
                return f"no answer within {self.timeout_seconds:g} s"
            except Exception as error:
                return f"{type(error).__name__}: {error}"[:300]
            return "ok"

        results = await asyncio.gather(*(one(probe) for _, probe in self.probes))
        report = {name: result for (name, _), result in zip(self.probes, results, strict=True)}
        return all(result == "ok" for result in results), report


def redis_probe(redis: Redis) -> Probe:
    async def ping() -> None:
        await redis.ping()

    return ping


def groups_probe(redis: Redis, streams: list[tuple[str, str]]) -> Probe:
    """Every (stream, group) this process consumes exists: gone after a Redis that lost its data."""

    async def groups() -> None:
        missing = []
        for stream, group in streams:
            try:
                infos: Any = await redis.xinfo_groups(stream)
            except Exception as error:
                if "no such key" not in str(error).lower():
                    raise
                infos = []
            names = {(i["name"].decode() if isinstance(i["name"], bytes) else i["name"]) for i in infos}
            if group not in names:
                missing.append(f"{stream} ({group})")
        if missing:
            raise RuntimeError("missing consumer groups: " + ", ".join(missing))

    return groups


def metrics_port(default: int | None = None) -> int | None:
    """`HAMAFZA_METRICS_PORT`; unset means no ops server (0 picks a free port)."""
    raw = os.environ.get("HAMAFZA_METRICS_PORT")
    if raw is None or raw.strip() == "":
        return default
    return int(raw)


class OpsServer:
    """The ops endpoints on their own port, in the running event loop (aiohttp)."""

    def __init__(self, metrics: Metrics, readiness: Readiness, host: str | None, port: int) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.host = host or os.environ.get("HAMAFZA_METRICS_HOST", "0.0.0.0")
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/readyz", self._readyz)
        application.router.add_get("/metrics", self._metrics)
        return application

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ready, report = await self.readiness.check()
        body = {"status": "ready" if ready else "not ready", "checks": report}
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        await self.metrics.refresh()
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        server: Any = site._server  # the bound port, when 0 asked for a free one
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        log.info("ops.listening", url=self.url, endpoints=["/healthz", "/readyz", "/metrics"])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def add_routes(app: FastAPI, metrics: Metrics, readiness: Readiness) -> None:
    """The same three endpoints on a FastAPI app (the HTTP API's own port)."""
    from fastapi.responses import JSONResponse, Response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ready, report = await readiness.check()
        body = {"status": "ready" if ready else "not ready", "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        await metrics.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE)
