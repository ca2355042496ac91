"""The HTTP API in a process of its own under `hamafza run all`.

Sharing the workers' event loop made the API answer ~100× slower under load (a request waits behind
every batch the loop is working through); a thread would still share the GIL. So `run all` starts
`hamafza run api` as a child process with the same network file, Redis and prefix, restarts it if it
dies, and stops it (SIGTERM, then its own drain) when the workers stop. The child serves /healthz,
/readyz and /metrics on the API's port; the parent serves the workers' on HAMAFZA_METRICS_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.logs import get_logger

log = get_logger("hamafza.apart")


@dataclass
class ApiProcess:
    config: Path
    redis_url: str
    prefix: str
    host: str | None = None
    port: int | None = None
    restart_delay_seconds: float = 1.0
    stop_timeout_seconds: float = 30.0
    _process: asyncio.subprocess.Process | None = field(default=None, init=False)
    _supervisor: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)

    def command(self) -> list[str]:
        # Redis's URL goes by the environment: a password in argv would show in `ps`.
        command = [sys.executable, "-m", "services", "run", "api", "--config", str(self.config)]
        if self.host is not None:
            command += ["--host", self.host]
        if self.port is not None:
            command += ["--port", str(self.port)]
        return command

    def environment(self) -> dict[str, str]:
        # The parent owns HAMAFZA_METRICS_PORT; the API serves its ops endpoints on its own port.
        environment = {key: value for key, value in os.environ.items() if key != "HAMAFZA_METRICS_PORT"}
        return {**environment, "REDIS_URL": self.redis_url, "HAMAFZA_PREFIX": self.prefix}

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(*self.command(), env=self.environment())
        log.info("api.process_started", pid=process.pid)
        return process

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self._process is not None
            code = await self._process.wait()
            if self._stopping:
                return
            log.error("api.process_exited", code=code, restart_in_seconds=self.restart_delay_seconds)
            await asyncio.sleep(self.restart_delay_seconds)
            if not self._stopping:
                self._process = await self._spawn()

    async def start(self) -> None:
        self._stopping = False
        self._process = await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="hamafza-api-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=self.stop_timeout_seconds)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._process = None
        self._supervisor = None
