"""The HTTP ingress in-process, over httpx's ASGI transport, and what it put on the items stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from redis.asyncio import Redis

from services.ingress.api import ApiState, Ingest, create_app
from services.ingress.tokens import TokenBook, register_ingest_secrets
from services.runtime import Runtime


@asynccontextmanager
async def api_client(runtime: Runtime, max_body_bytes: int) -> AsyncIterator[httpx.AsyncClient]:
    register_ingest_secrets(runtime.network.agencies)
    state = ApiState(
        runtime,
        Ingest(runtime.redis, runtime.keys),
        TokenBook(runtime.network.agencies, runtime.network.file.council),
    )
    state.max_body_bytes = max_body_bytes
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://hamafza.test") as http:
        yield http


async def stream_items(redis: Redis, runtime: Runtime) -> list[dict[str, Any]]:
    entries: Any = await redis.xrange(runtime.keys.items)
    return [json.loads(fields[b"data"]) for _, fields in entries]
