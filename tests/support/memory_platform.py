"""An in-memory platform behind the real adapter interface: the fake for pipeline tests that are
about Hamafza's own guarantees rather than any one platform's HTTP API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel

from adapters import (
    Adapter,
    AmbiguousError,
    AuthError,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from schemas import Action, Delivery, PostRef


class MemoryCredentials(BaseModel):
    handle: str
    token: str = "memory-secret-token"


class MemoryPlatform(Adapter[MemoryCredentials]):
    platform: ClassVar[str] = "memory"
    title: ClassVar[str] = "حافظه"
    credentials_model = MemoryCredentials
    default_api_base = "memory://"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.FORWARD: "forward"}
    text_limit: ClassVar[int] = 200
    secret_fields = frozenset({"token"})

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 5.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self.posts: list[tuple[str, Delivery]] = []
        self.failures: list[Exception] = []  # raised, in order, by the next calls
        self._ids = itertools.count(1)
        self.commit_then_fail = False
        self.can_reconcile = False
        self.post_times: list[float] = []

    def account_label(self, credentials: MemoryCredentials) -> str:
        return f"memory:{credentials.handle}"

    async def _send(self, credentials: MemoryCredentials, delivery: Delivery) -> Posted:
        if self.failures and not self.commit_then_fail:
            raise self.failures.pop(0)
        post_id = str(next(self._ids))
        self.posts.append((credentials.handle, delivery))
        self.post_times.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        return Posted(
            post_id=post_id, url=f"memory://{credentials.handle}/{post_id}", chat=credentials.handle
        )

    async def publish(
        self, credentials: MemoryCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        return await self._send(credentials, delivery)

    async def reconcile(self, credentials: MemoryCredentials, delivery: Delivery) -> Posted | None:
        if not self.can_reconcile:
            return await super().reconcile(credentials, delivery)
        for index, (handle, posted) in enumerate(self.posts, start=1):
            if handle == credentials.handle and posted.id == delivery.id:
                return Posted(post_id=str(index), url=f"memory://{handle}/{index}", chat=handle)
        return None

    async def amplify(
        self,
        credentials: MemoryCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        return await self._send(credentials, delivery)


ERRORS = {
    "retryable": lambda: RetryableError("503 Service Unavailable"),
    "rate_limited": lambda: RateLimitedError("429 Too Many Requests", datetime.now(UTC)),
    "auth": lambda: AuthError("401 Unauthorized"),
    "permanent": lambda: PermanentError("400 Bad Request: message is too long"),
    "ambiguous": lambda: AmbiguousError("connection dropped after sending"),
}
