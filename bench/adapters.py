"""Bench adapters: a zero-latency in-memory platform (three of them, like X, Telegram and Bale) and
the real Telegram adapter with an in-flight counter. They feed `STATS`, which the worker reports."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from adapters import Adapter, MediaFile, Posted
from adapters.telegram import BotCredentials, TelegramAdapter
from schemas import Action, Delivery, PostRef


@dataclass
class Stats:
    """Counters of adapter calls, shared by every bench adapter in the worker process."""

    calls: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    recording: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    marks: dict[int, asyncio.Event] = field(default_factory=dict)
    reached: dict[int, dict[str, float]] = field(default_factory=dict)
    on_mark: Callable[[int], None] | None = None

    def started(self, delivery: Delivery) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self.recording and delivery.item_id[0] == "L":
            # Latency items carry their XADD time: L<epoch ns>-<seq>.
            sent_ns = int(delivery.item_id[1:].partition("-")[0])
            self.latencies_ms.append((time.time_ns() - sent_ns) / 1e6)

    def finished(self) -> None:
        self.in_flight -= 1
        self.calls += 1
        event = self.marks.get(self.calls)
        if event is not None:
            self.reached[self.calls] = {"mono": time.monotonic(), "cpu": time.process_time()}
            if self.on_mark is not None:
                self.on_mark(self.calls)
            event.set()


STATS = Stats()


class BenchCredentials(BaseModel):
    handle: str
    token: str


class ZeroLatency(Adapter[BenchCredentials]):
    """Returns at once, keeps nothing per post: what is left is Hamafza's own cost per delivery."""

    platform: ClassVar[str] = "mem-a"
    title: ClassVar[str] = "حافظه"
    credentials_model = BenchCredentials
    default_api_base = "memory://"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.FORWARD: "forward"}
    text_limit: ClassVar[int] = 4096
    secret_fields = frozenset({"token"})
    _ids: ClassVar[itertools.count[int]] = itertools.count(1)

    def account_label(self, credentials: BenchCredentials) -> str:
        return f"{self.platform}:{credentials.handle}"

    async def publish(
        self, credentials: BenchCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        STATS.started(delivery)
        post_id = str(next(self._ids))
        STATS.finished()
        return Posted(
            post_id=post_id, url=f"memory://{credentials.handle}/{post_id}", chat=credentials.handle
        )

    async def amplify(
        self,
        credentials: BenchCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        return await self.publish(credentials, delivery)


class ZeroLatencyB(ZeroLatency):
    platform: ClassVar[str] = "mem-b"


class ZeroLatencyC(ZeroLatency):
    platform: ClassVar[str] = "mem-c"


ZERO_LATENCY: dict[str, type[Adapter[Any]]] = {
    cls.platform: cls for cls in (ZeroLatency, ZeroLatencyB, ZeroLatencyC)
}


class CountedTelegram(TelegramAdapter):
    """The real Telegram adapter (python-telegram-bot over HTTP), counting calls in flight."""

    async def publish(
        self, credentials: BotCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        STATS.started(delivery)
        try:
            return await super().publish(credentials, delivery)
        finally:
            STATS.finished()


def registry(kind: str, platforms: int = 3) -> dict[str, type[Adapter[Any]]]:
    if kind == "memory":
        return dict(itertools.islice(ZERO_LATENCY.items(), platforms))
    return {"telegram": CountedTelegram}
