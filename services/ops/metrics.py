"""Prometheus metrics: what the services count, behind one small interface (`Metrics`).

Services call `runtime.metrics.delivery(...)`, `.dead_letter(...)`… and never import
prometheus-client themselves. Gauges that describe shared state (stream lag and pending, paused
accounts, approvals pending) are read from Redis when `/metrics` is scraped (`refresh`), so every
process reports the same truth whichever one Prometheus asks.

Several processes on one host: by default each process serves its own registry on its own port
(`HAMAFZA_METRICS_PORT`, one per process; Prometheus sums counters across targets). With
`PROMETHEUS_MULTIPROC_DIR` set (before the process starts), prometheus-client's multiprocess mode
is used instead: every process writes its samples to files there, and whichever process is scraped
serves the sum of all of them (counters and histograms summed; Redis-derived gauges take the most
recent value). The directory must be emptied before the processes start.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.logs import get_logger

log = get_logger("hamafza.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
# XADD → post: milliseconds on an idle system, minutes behind a rate limit or a backlog.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# Source post → partner's amplification: the network's random delay (minutes) plus any backlog.
DELAY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600)

GaugeSource = Callable[["Metrics"], Awaitable[None]]


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Every series Hamafza exports, in a registry of its own (so in-process tests do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        shared: Any = {"multiprocess_mode": "mostrecent"}  # Redis-derived: the same in every process
        self.deliveries = Counter(
            "hamafza_deliveries",
            "Delivery attempts by outcome: posted, retry, rate_limited, dead, already_final, paused, "
            "budget_wait, not_replicated.",
            ["platform", "action", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "hamafza_dead_letters", "Dead letters written, by reason.", ["reason"], registry=registry
        )
        self.publish_latency = Histogram(
            "hamafza_publish_latency_seconds",
            "From the item's XADD to its post on the platform (own posts).",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.amplification_delay = Histogram(
            "hamafza_amplification_delay_seconds",
            "From the partner's source post to the amplification on the platform.",
            ["platform", "action"],
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.budget_waits = Counter(
            "hamafza_budget_waits",
            "Deliveries held back because the account's own write budget was spent.",
            ["platform"],
            registry=registry,
        )
        self.stream_length = Gauge(
            "hamafza_stream_length", "Entries in the stream.", ["stream"], registry=registry, **shared
        )
        self.stream_lag = Gauge(
            "hamafza_stream_lag",
            "Entries the consumer group has not read yet.",
            ["stream", "group"],
            registry=registry,
            **shared,
        )
        self.stream_pending = Gauge(
            "hamafza_stream_pending",
            "Entries read by the group but not acknowledged yet.",
            ["stream", "group"],
            registry=registry,
            **shared,
        )
        self.paused_accounts = Gauge(
            "hamafza_paused_accounts",
            "Accounts whose deliveries are held, by why: rate_limit or auth.",
            ["platform", "reason"],
            registry=registry,
            **shared,
        )
        self.approvals_pending = Gauge(
            "hamafza_approvals_pending",
            "Items waiting for an approval, per agency (set by the approvals service).",
            ["agency"],
            registry=registry,
            **shared,
        )
        self.scrape_errors = Counter(
            "hamafza_metrics_refresh_errors",
            "Scrapes whose Redis-derived gauges could not be refreshed.",
            registry=registry,
        )
        self._sources: list[GaugeSource] = []

    # --- what services count ------------------------------------------------------------------

    def delivery(self, platform: str, action: str, outcome: str) -> None:
        self.deliveries.labels(platform, action, outcome).inc()

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(reason).inc()

    def posted_after(self, platform: str, action: str, seconds: float, *, own: bool) -> None:
        """A post went out `seconds` after its clock started (XADD for own posts, the source post else)."""
        if own:
            self.publish_latency.labels(platform).observe(max(seconds, 0.0))
        else:
            self.amplification_delay.labels(platform, action).observe(max(seconds, 0.0))

    def budget_wait(self, platform: str) -> None:
        self.budget_waits.labels(platform).inc()

    # --- gauges read from shared state at scrape time -----------------------------------------

    def add_source(self, source: GaugeSource) -> None:
        """Register an async callable that sets gauges before each scrape (the approvals service's)."""
        self._sources.append(source)

    async def refresh(self, timeout: float = 3.0) -> None:
        for source in self._sources:
            try:
                async with asyncio.timeout(timeout):
                    await source(self)
            except Exception as error:  # a scrape still answers, with the last values
                self.scrape_errors.inc()
                log.warning("metrics.refresh_failed", detail=f"{type(error).__name__}: {error}")

    def render(self) -> bytes:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(combined, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(combined)


def mark_process_dead() -> None:
    """In multiprocess mode, drop this process's live gauges when it exits."""
    if multiprocess_dir() is not None:
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
