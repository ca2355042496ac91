"""Reach: metric snapshots of every post and the audience of every posting or amplifying account.

The service has its own consumer group on the results stream. For each posted result it records the
post (`hamafza:reach:post:<delivery-id>`, indexed in `hamafza:reach:posts`) and schedules one snapshot
request per offset (default +1 h, +6 h, +24 h, +72 h) in its own `Schedule`, `hamafza:reach:schedule`,
which the scheduler releases onto `hamafza:reach:due` with every other schedule (`Keys.schedules`).
(It is not `hamafza:schedule`: that set empty means "no outstanding work" to `status`, the demo and
the tests, and snapshot requests wait up to three days.)

Due requests are read by this service, grouped per platform and account: one audience call per account
(X: followers; Telegram/Bale: channel members, since bots cannot read views) and one metrics call per
`metrics_batch_size` posts (X: 100 ids per GET /2/tweets). Each snapshot goes to the `hamafza:reach`
stream and becomes the post's `latest` record, in one MULTI with the acknowledgement of its request;
everything lives in Redis, so snapshots and pending requests survive restarts. `hamafza reach poll`
takes a snapshot of the tracked posts now (`--all`: of every post ever recorded).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from adapters import DeliveryError, Engagement, RateLimitedError, RetryableError
from adapters.base import AmbiguousError
from schemas import Action, DeliveryState, Result
from services.logs import get_logger
from services.pipeline.consumer import Entry
from services.pipeline.schedule import Schedule
from services.reach.snapshots import ReachDue, ReachSettings, ReachSnapshot, TrackedPost
from services.runtime import BadEntry, Runtime, decode_entry, encode, epoch_ms, now

GROUP = "reach"
POLL = "poll"
log = get_logger("hamafza.reach")

# Posts whose metrics the platform can read: a retweet has no id of its own, a forward no counters.
_METRIC_ACTIONS = frozenset({Action.PUBLISH.value, Action.QUOTE.value, Action.COPY.value})


@dataclass
class _Failure:
    posts: list[TrackedPost]
    error: Exception


# --- the service ---------------------------------------------------------------------------------


class Reach:
    def __init__(self, runtime: Runtime, settings: ReachSettings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or ReachSettings.from_env()
        self.keys = runtime.keys.reach
        self.schedule = Schedule(self.keys.schedule)

    # posted results → tracked posts and scheduled requests

    async def handle_results(self, entries: list[Entry]) -> None:
        for entry in entries:
            try:
                await self._track(entry)
            except Exception:
                log.exception("reach.track_failed", entry_id=entry.id, deliveries=entry.deliveries)

    async def _track(self, entry: Entry) -> None:
        redis = self.runtime.redis
        try:
            result = Result.model_validate(decode_entry(entry.fields))
        except (BadEntry, ValidationError):
            log.warning("reach.skipped_foreign_entry", entry_id=entry.id)
            await redis.xack(*entry.ack)
            return
        if result.state is not DeliveryState.POSTED or result.post is None:
            await redis.xack(*entry.ack)
            return
        delivery = result.delivery
        post = TrackedPost(
            delivery_id=delivery.id,
            item_id=delivery.item_id,
            agency=delivery.agency,
            origin_agency=delivery.origin_agency,
            platform=delivery.platform,
            action=delivery.action.value,
            post_id=result.post.post_id,
            chat=result.post.chat,
            url=result.post.url,
            campaign=delivery.campaign,
            posted_at=result.at,
        )
        requests = self.plan(post, now())
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.post(post.delivery_id), "post", post.model_dump_json(exclude_none=True))
            pipe.zadd(self.keys.posts, {post.delivery_id: epoch_ms(post.posted_at)})
            for request, due in requests:
                self.schedule.add(pipe, self.keys.due, request, due)
            pipe.xack(*entry.ack)
            await pipe.execute()
        log.info(
            "reach.scheduled",
            item_id=post.item_id,
            agency=post.agency,
            platform=post.platform,
            action=post.action,
            offsets=[request.offset for request, _ in requests],
        )

    def plan(self, post: TrackedPost, moment: datetime) -> list[tuple[ReachDue, datetime]]:
        """One request per offset; of the offsets already past (a backfill), only the latest."""
        planned = [
            (
                ReachDue(delivery_id=post.delivery_id, offset=label),
                post.posted_at + timedelta(seconds=seconds),
            )
            for label, seconds in self.settings.offsets
        ]
        future = [(request, due) for request, due in planned if due > moment]
        past = [(request, due) for request, due in planned if due <= moment]
        return past[-1:] + future

    # due requests → snapshots

    async def handle_due(self, entries: list[Entry]) -> None:
        try:
            await self._due(entries)
        except Exception:
            # Left unacknowledged: the claimer hands the entries out again after claim_idle_ms.
            log.exception("reach.due_failed", entries=len(entries))

    async def _due(self, entries: list[Entry]) -> None:
        redis = self.runtime.redis
        requests: list[tuple[Entry, ReachDue]] = []
        skipped: list[Entry] = []
        for entry in entries:
            try:
                requests.append((entry, ReachDue.model_validate(decode_entry(entry.fields))))
            except (BadEntry, ValidationError):
                log.warning("reach.skipped_foreign_entry", entry_id=entry.id)
                skipped.append(entry)
        posts = await self.tracked([request.delivery_id for _, request in requests])
        by_offset: dict[str, list[TrackedPost]] = defaultdict(list)
        request_of: dict[tuple[str, str], ReachDue] = {}
        for _entry, request in requests:
            post = posts.get(request.delivery_id)
            if post is None:
                log.warning("reach.unknown_post", delivery_id=request.delivery_id)
                continue
            by_offset[request.offset].append(post)
            request_of[(request.offset, request.delivery_id)] = request
        snapshots: list[ReachSnapshot] = []
        retries: list[tuple[ReachDue, datetime]] = []
        for offset, group in by_offset.items():
            taken, failures = await self.collect(group, offset)
            snapshots.extend(taken)
            for failure in failures:
                for post in failure.posts:
                    retry = self._retry(request_of[(offset, post.delivery_id)], post, failure.error)
                    if retry is not None:
                        retries.append(retry)
        async with redis.pipeline(transaction=True) as pipe:
            self._write(pipe, snapshots)
            for request, due in retries:
                self.schedule.add(pipe, self.keys.due, request, due)
            for entry in [entry for entry, _ in requests] + skipped:
                pipe.xack(*entry.ack)
            await pipe.execute()
        self._log(snapshots)

    def _retry(
        self, request: ReachDue, post: TrackedPost, error: Exception
    ) -> tuple[ReachDue, datetime] | None:
        context = {"item_id": post.item_id, "agency": post.agency, "platform": post.platform}
        transient = isinstance(error, RetryableError | RateLimitedError | AmbiguousError)
        if not transient or request.attempt + 1 >= self.settings.max_attempts:
            log.warning("reach.gave_up", offset=request.offset, error=str(error), **context)
            return None
        if isinstance(error, RateLimitedError):
            due = max(error.reset_at, now())
        else:
            cap = min(
                self.settings.backoff_cap_seconds, self.settings.backoff_base_seconds * 2**request.attempt
            )
            due = now() + timedelta(seconds=random.uniform(cap / 2, cap))
        log.info("reach.retry_scheduled", offset=request.offset, error=str(error), **context)
        return request.model_copy(update={"attempt": request.attempt + 1}), due

    # polling now

    async def poll(self, *, every_post: bool = False) -> list[ReachSnapshot]:
        """A snapshot now of the posts still in the offsets' window, or of every post ever tracked."""
        redis = self.runtime.redis
        if every_post:
            raw: Any = await redis.zrange(self.keys.posts, 0, -1)
        else:
            since = now() - timedelta(seconds=self.settings.window_seconds)
            raw = await redis.zrangebyscore(self.keys.posts, epoch_ms(since), "+inf")
        posts = await self.tracked([member.decode() for member in raw])
        snapshots, failures = await self.collect(list(posts.values()), POLL)
        for failure in failures:
            first = failure.posts[0]
            log.warning(
                "reach.poll_failed", platform=first.platform, agency=first.agency, error=str(failure.error)
            )
        async with redis.pipeline(transaction=True) as pipe:
            self._write(pipe, snapshots)
            await pipe.execute()
        self._log(snapshots)
        return snapshots

    # shared

    async def tracked(self, delivery_ids: Sequence[str]) -> dict[str, TrackedPost]:
        ids = list(dict.fromkeys(delivery_ids))
        async with self.runtime.redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.hget(self.keys.post(delivery_id), "post")
            rows: list[bytes | None] = await pipe.execute()
        return {
            delivery_id: TrackedPost.model_validate_json(row)
            for delivery_id, row in zip(ids, rows, strict=True)
            if row is not None
        }

    async def collect(
        self, posts: Iterable[TrackedPost], offset: str
    ) -> tuple[list[ReachSnapshot], list[_Failure]]:
        """Snapshots of `posts`, batched per platform and account; failures per account."""
        groups: dict[tuple[str, str], list[TrackedPost]] = defaultdict(list)
        for post in posts:
            groups[(post.platform, post.agency)].append(post)
        outcomes = await asyncio.gather(
            *(
                self._collect_account(platform, agency, group, offset)
                for (platform, agency), group in groups.items()
            )
        )
        snapshots: list[ReachSnapshot] = []
        failures: list[_Failure] = []
        for taken, failure in outcomes:
            snapshots.extend(taken)
            if failure is not None:
                failures.append(failure)
        return snapshots, failures

    async def _collect_account(
        self, platform: str, agency: str, posts: list[TrackedPost], offset: str
    ) -> tuple[list[ReachSnapshot], _Failure | None]:
        account = self.runtime.network.account(agency, platform)
        adapter = self.runtime.adapters.get(platform)
        if account is None or adapter is None:
            log.warning("reach.no_account", platform=platform, agency=agency, posts=len(posts))
            return [], None
        credentials = account.credentials
        try:
            audience = await adapter.audience(credentials)
            metrics: dict[str, Engagement] = {}
            if adapter.supports_metrics:
                ids = [post.post_id for post in posts if post.action in _METRIC_ACTIONS]
                size = max(1, adapter.metrics_batch_size)
                for start in range(0, len(ids), size):
                    metrics.update(await adapter.metrics(credentials, ids[start : start + size]))
        except DeliveryError as error:
            return [], _Failure(posts, error)
        label = adapter.account_label(credentials)
        moment = now()
        snapshots = []
        for post in posts:
            engagement = metrics.get(post.post_id, Engagement())
            snapshots.append(
                ReachSnapshot(
                    delivery_id=post.delivery_id,
                    item_id=post.item_id,
                    agency=post.agency,
                    origin_agency=post.origin_agency,
                    platform=post.platform,
                    action=post.action,
                    post_id=post.post_id,
                    campaign=post.campaign,
                    account=label,
                    offset=offset,
                    posted_at=post.posted_at,
                    at=moment,
                    audience=audience,
                    impressions=engagement.impressions,
                    likes=engagement.likes,
                    reposts=engagement.reposts,
                    replies=engagement.replies,
                    quotes=engagement.quotes,
                    views=engagement.views,
                )
            )
        return snapshots, None

    def _write(self, pipe: Any, snapshots: list[ReachSnapshot]) -> None:
        for snapshot in snapshots:
            data = snapshot.model_dump_json(exclude_none=True)
            pipe.xadd(self.keys.snapshots, encode(snapshot))
            key = self.keys.post(snapshot.delivery_id)
            pipe.hset(key, mapping={"latest": data, f"snap:{snapshot.offset}": data})
            pipe.hincrby(key, "count", 1)
            if snapshot.audience is not None:
                pipe.hset(
                    self.keys.audience,
                    f"{snapshot.platform}/{snapshot.agency}",
                    json.dumps({"audience": snapshot.audience, "at": snapshot.at.isoformat()}),
                )

    def _log(self, snapshots: list[ReachSnapshot]) -> None:
        for snapshot in snapshots:
            log.info(
                "reach.snapshot",
                item_id=snapshot.item_id,
                agency=snapshot.agency,
                platform=snapshot.platform,
                account=snapshot.account,
                action=snapshot.action,
                offset=snapshot.offset,
                origin_agency=snapshot.origin_agency,
                post_id=snapshot.post_id,
                audience=snapshot.audience,
                impressions=snapshot.impressions,
                likes=snapshot.likes,
                reposts=snapshot.reposts,
                replies=snapshot.replies,
                quotes=snapshot.quotes,
            )
