"""Helpers shared by the benchmark phases: key prefixes, cleanup, percentiles, child processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# ~260 bytes of JSON, the size of an item or a delivery on the streams (as in the reference report).
PAYLOAD_TEXT = (
    "آغاز هفته حمل‌ونقل با بازگشایی دو پل در مسیر اهواز-خرمشهر؛ "
    "مردم می‌توانند از امروز از مسیر جدید استفاده کنند."
)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


async def cleanup(redis: Redis, prefix: str) -> int:
    """UNLINK every key under `prefix:`; returns how many."""
    removed = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += int(await redis.unlink(*batch))
            batch.clear()
    if batch:
        removed += int(await redis.unlink(*batch))
    return removed


async def redis_cpu(redis: Redis) -> float:
    """Redis server CPU seconds so far (user + sys, main thread and children)."""
    info: Any = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def redis_memory(redis: Redis) -> int:
    info: Any = await redis.info("memory")
    return int(info["used_memory"])


async def xlens(redis: Redis, streams: dict[str, str]) -> dict[str, int]:
    """XLEN of each named stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams.values():
            pipe.xlen(stream)
        lengths = await pipe.execute()
    return {name: int(n) for name, n in zip(streams, lengths, strict=True)}


@dataclass
class Child:
    """A child process speaking one JSON object per line on stdin/stdout."""

    process: asyncio.subprocess.Process
    name: str
    stderr_path: Path
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def start(cls, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        log_dir = ROOT / "bench" / "results" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = log_dir / f"{name}.stderr"
        stderr = stderr_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=str(ROOT),
            env={**os.environ, **(env or {})},
            limit=64 * 1024 * 1024,
        )
        stderr.close()
        child = cls(process, name, stderr_path)
        return child

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read(self, timeout: float = 600.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            tail = self.stderr_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}); stderr tail:\n{tail}")
        return dict(json.loads(line))

    async def ask(self, command: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        async with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(command) + "\n").encode())
            await self.process.stdin.drain()
            return await self.read(timeout)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    async def close(self, timeout: float = 60.0) -> None:
        if self.process.returncode is not None:
            return
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            await asyncio.wait_for(self.process.wait(), timeout)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.process.kill()
            await self.process.wait()


def now_ns() -> int:
    return time.time_ns()
