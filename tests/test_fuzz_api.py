"""Property (issue 16): whatever a client sends to the HTTP API, the answer is never a 5xx, and every
error is `{"detail": "<text>"}`.

Schemathesis generates the requests from the API's own OpenAPI document (served by the app under
test), on a real port: every operation, with a valid token (so requests get past authentication),
bodies from the Item schema and beyond it, path and header parameters of every shape. The app runs
on uvicorn in an event loop of its own thread against a real Redis. Bounded to a few seconds.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.ingress.api import ApiService, openapi_document
from tests.test_api import TOKENS, make_runtime


class LiveApi:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runtime = make_runtime(redis_url, prefix)
        self.service: ApiService = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        self.url = self.service.url

    async def _start(self) -> ApiService:
        service = ApiService(self.runtime, "127.0.0.1", 0)
        await service.start()
        return service

    async def _stop(self) -> None:
        await self.service.stop()
        redis = self.runtime.redis
        keys = [key async for key in redis.scan_iter(match=f"{self.runtime.keys.prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_api(redis_url: str) -> Iterator[LiveApi]:
    api = LiveApi(redis_url, f"test-{uuid.uuid4().hex[:12]}")
    yield api
    api.close()


# The document the app serves (tests/test_api.py checks that /openapi.json is this one).
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
def test_no_request_gets_a_5xx_and_every_error_has_one_shape(case: Any, live_api: LiveApi) -> None:
    response = case.call(
        base_url=live_api.url, headers={"Authorization": f"Bearer {TOKENS['khz-roads']}"}, timeout=30
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert list(body) == ["detail"] and isinstance(body["detail"], str), body
