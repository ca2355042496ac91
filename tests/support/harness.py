"""Running the real workers in the test's event loop, and waiting for them to go idle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from services.app import SERVICES, Workers, build_workers
from services.ops.status import outstanding_work
from services.runtime import Runtime


@asynccontextmanager
async def running(runtime: Runtime, services: Iterable[str] = SERVICES) -> AsyncIterator[Workers]:
    workers = build_workers(runtime, services)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def wait_idle(workers: Workers, timeout: float = 20.0) -> None:
    """Idle twice in a row, so work handed between services in between is not missed."""

    async def idle() -> bool:
        first = await outstanding_work(workers.runtime.redis, workers.runtime.keys, workers.streams)
        if not first["idle"]:
            return False
        await asyncio.sleep(0.3)
        second = await outstanding_work(workers.runtime.redis, workers.runtime.keys, workers.streams)
        return bool(second["idle"])

    await wait_for(idle, timeout, "the workers to go idle")


def xadd_fields(item: dict[str, Any]) -> dict[str, str]:
    """What an agency sends with redis-cli: XADD hamafza:items * data '<json>'."""
    return {"data": json.dumps(item, ensure_ascii=False)}
