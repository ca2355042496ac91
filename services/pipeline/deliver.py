"""Deliver: one delivery → one platform call through its adapter, made effectively-once by the ledger.

What happens after a call depends only on the adapter's error type (see `adapters.base`), as the
table `outcomes.POLICY` says: posted → result; retryable → backoff through the schedule;
rate-limited → the account pauses until the platform's reset; auth or permanent → dead letter;
ambiguous → reconcile with the platform, and a dead letter `unconfirmed` where it cannot tell —
never a blind resend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from adapters import (
    Adapter,
    AmbiguousError,
    CannotReconcile,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
)
from schemas import Action, DeadLetter, DeadReason, Delivery, PostRef
from services.config import Account
from services.governance.caps import DailyCaps, cap_for
from services.governance.policy import after_quiet_hours, next_tehran_day
from services.logs import get_logger
from services.pipeline.budget import AccountBudget
from services.pipeline.consumer import Entry, InFlight
from services.pipeline.fanout import describe_validation
from services.pipeline.ledger import Claim, ClaimFailed, Ledger, Verdict, backoff_seconds
from services.pipeline.media import MediaStep
from services.pipeline.outcomes import Decision, Outcome, decide
from services.runtime import BadEntry, Runtime, decode_entry, epoch_ms, now, preview

GROUP = "deliver"
STAGE = "deliver"
log = get_logger("hamafza.deliver")


class Deliver:
    def __init__(
        self,
        runtime: Runtime,
        ledger: Ledger,
        budget: AccountBudget | None = None,
        media: MediaStep | None = None,
    ) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self.budget = budget
        self.media = media or MediaStep(runtime)
        self.caps = DailyCaps(runtime.redis, runtime.keys)
        self.in_flight = InFlight(self.handle_entry, "deliver.failed", runtime.settings.max_in_flight)
        self.handle = self.in_flight.handle
        self._sending: set[str] = set()
        # Accounts whose own channel a watcher reads (`ingest.channels`): only their calls are marked.
        self._watched = {
            (name, platform)
            for name, agency in runtime.network.agencies.items()
            for platform in (agency.ingest.channels if agency.ingest else [])
        }

    def lease_ms(self, adapter: Adapter[Any]) -> int:
        # Short: the heartbeat renews it while the call runs, so only a dead worker's lease runs out.
        return self.runtime.settings.lease_ms

    def sending(self) -> list[str]:
        """The deliveries this worker is handling now, whose leases the heartbeat renews."""
        return list(self._sending)

    async def handle_entry(self, entry: Entry) -> None:
        try:
            delivery = Delivery.model_validate(decode_entry(entry.fields))
        except (BadEntry, ValidationError) as error:
            detail = describe_validation(error) if isinstance(error, ValidationError) else str(error)
            letter = DeadLetter(
                reason=DeadReason.INVALID_ENTRY,
                detail=f"not a delivery: {detail}",
                stage=STAGE,
                entry=preview(entry.fields),
                attempts=entry.deliveries,
                at=now(),
            )
            await self.ledger.dead_entry(letter, entry.ack)
            log.warning(
                "delivery.dead_lettered", reason=letter.reason.value, detail=letter.detail, entry_id=entry.id
            )
            return
        account = self.runtime.network.account(delivery.agency, delivery.platform)
        adapter = self.runtime.adapters.get(delivery.platform)
        with structlog.contextvars.bound_contextvars(
            item_id=delivery.item_id,
            agency=delivery.agency,
            platform=delivery.platform,
            action=delivery.action.value,
            account=self.runtime.account_label(account) if account and adapter else None,
            delivery_id=delivery.id,
        ):
            if account is None or adapter is None:
                await self._dead(
                    delivery,
                    entry,
                    DeadReason.NO_ACCOUNT,
                    f"{delivery.agency!r} has no {delivery.platform} account any more; fix the network file, then replay",
                )
                return
            self._sending.add(delivery.id)
            try:
                await self._deliver(delivery, entry, account, adapter)
            finally:
                self._sending.discard(delivery.id)

    async def _deliver(
        self, delivery: Delivery, entry: Entry, account: Account, adapter: Adapter[Any]
    ) -> None:
        # Media first: bytes from the media step's store (fetched once per item), or why not.
        media = await self.media.files_for(delivery, adapter)
        if isinstance(media, str):
            await self._dead(delivery, entry, DeadReason.MEDIA_REJECTED, media)
            return
        # The partner's daily cap and the budget first, so that the claim is followed by nothing but
        # the call: a worker killed between the two leaves a delivery that must be reconciled, though
        # it was never sent.
        if await self._over_daily_cap(delivery, entry):
            return
        if await self._budget_spent(delivery, entry):
            return
        claim = await self._claim(delivery, adapter)
        if claim is None:
            return
        match claim.verdict:
            case Verdict.POSTED | Verdict.DEAD:
                await self.ledger.plain.run(lambda pipe: pipe.xack(*entry.ack))
                self._count(delivery, "already_final")
                log.info("delivery.already_final", state=claim.verdict.value)
            case Verdict.BUSY:
                log.info("delivery.in_flight_elsewhere")  # left pending; reclaimed if that worker dies
            case Verdict.PAUSED:
                until = datetime.fromtimestamp(claim.number / 1000, tz=UTC)
                await self.ledger.reschedule(delivery, until, entry.ack)
                self._count(delivery, "paused")
                log.info("delivery.account_paused", until=until.isoformat())
            case Verdict.AMBIGUOUS:
                log.warning("delivery.recovering", detail="a worker stopped mid-call; asking the platform")
                claimed_at = await self.ledger.claimed_at(delivery.id)  # how far back to look
                await self._reconcile(
                    delivery, entry, account, adapter, claim.number, "worker stopped mid-call", claimed_at
                )
            case Verdict.GO:
                await self._attempt(delivery, entry, account, adapter, media, claim.number)

    async def _attempt(
        self,
        delivery: Delivery,
        entry: Entry,
        account: Account,
        adapter: Adapter[Any],
        media: Sequence[MediaFile],
        attempts: int,
    ) -> None:
        """A claimed delivery: the platform call, then what `outcomes.POLICY` says its error leads to."""
        if entry.deliveries > self.runtime.settings.max_deliveries:
            # Counted only for fresh attempts: hand-outs while another worker's lease runs ("busy")
            # are not this entry's fault.
            await self._dead(
                delivery,
                entry,
                DeadReason.POISON,
                f"entry failed {entry.deliveries - 1} times; see the worker logs",
                attempts,
            )
            return
        claimed_at = now()
        try:
            async with asyncio.timeout(adapter.timeout_seconds + 5):
                posted = await self._call(delivery, account, adapter, media)
        except Exception as error:
            await self._failed(delivery, entry, account, adapter, attempts, error, claimed_at)
        else:
            await self._posted(delivery, entry, posted)

    async def _over_daily_cap(self, delivery: Delivery, entry: Entry) -> bool:
        """An amplification past its account's cap for this Tehran day waits for the next day."""
        if delivery.action is Action.PUBLISH:
            return False
        cap = cap_for(self.runtime.network, delivery)
        moment = now()
        if cap is None or await self.caps.take(delivery, cap, moment):
            return False
        policy = self.runtime.network.file.networks[delivery.network or ""].policy
        until = after_quiet_hours(next_tehran_day(moment), policy.quiet_hours)
        await self.ledger.defer(delivery, until, entry.ack)
        self._count(delivery, "daily_cap")
        log.info("delivery.daily_cap", until=until.isoformat(), cap=cap)
        return True

    async def _claim(self, delivery: Delivery, adapter: Adapter[Any]) -> Claim | None:
        try:
            return await self.ledger.claim(delivery, self.lease_ms(adapter), self.runtime.consumer)
        except ClaimFailed as error:
            # Not known to be durable on a replica: no platform call. The entry stays pending and is
            # handed out again after claim_idle_ms.
            self._count(delivery, "not_replicated")
            log.warning("delivery.claim_not_durable", detail=str(error))
            return None

    async def _budget_spent(self, delivery: Delivery, entry: Entry) -> bool:
        """Our own budget, spent before the platform has to refuse: deferred, not an attempt at all."""
        wait_until = await self.budget.take(delivery) if self.budget is not None else None
        if wait_until is None:
            return False
        await self.ledger.defer(delivery, wait_until, entry.ack)
        self.runtime.metrics.budget_wait(delivery.platform)
        self._count(delivery, "budget_wait")
        log.info("delivery.budget_wait", until=wait_until.isoformat())
        return True

    async def _failed(
        self,
        delivery: Delivery,
        entry: Entry,
        account: Account,
        adapter: Adapter[Any],
        attempts: int,
        error: Exception,
        claimed_at: datetime | None = None,
    ) -> None:
        decision = decide(error)
        if decision.rule.bug:
            log.exception("delivery.adapter_bug", exc_info=error)
        match decision.outcome:
            case Outcome.WAIT_FOR_RESET:
                reset_at = error.reset_at if isinstance(error, RateLimitedError) else now()
                pause_until = max(reset_at, now() + timedelta(seconds=1))
                await self.ledger.reschedule(
                    delivery, pause_until, entry.ack, pause_until=pause_until, refund_attempt=True
                )
                self._count(delivery, "rate_limited")
                log.warning("delivery.rate_limited", until=pause_until.isoformat(), detail=decision.detail)
            case Outcome.RETRY:
                await self._retry(delivery, entry, attempts, decision.detail)
            case Outcome.RECONCILE:
                await self._reconcile(
                    delivery, entry, account, adapter, attempts, decision.detail, claimed_at
                )
            case Outcome.PAUSE_AND_DEAD:
                pause_until = now() + timedelta(seconds=self.runtime.settings.auth_pause_seconds)
                await self.ledger.pause_account(delivery.platform, delivery.agency, pause_until)
                log.error(
                    "account.auth_failed",
                    detail=str(error),
                    paused_until=pause_until.isoformat(),
                    alert=True,
                )
                await self._dead(delivery, entry, _reason(decision), decision.detail, attempts)
            case Outcome.DEAD:
                await self._dead(delivery, entry, _reason(decision), decision.detail, attempts)

    async def _call(
        self, delivery: Delivery, account: Account, adapter: Adapter[Any], media: Sequence[MediaFile]
    ) -> Posted:
        # Channel watchers wait while a watched account has a call under way: the post it makes must
        # be recorded as Hamafza's own before a watcher could take it for an agency's new post. Other
        # accounts skip the extra round trip.
        watched = (delivery.agency, delivery.platform) in self._watched
        sending = self.runtime.keys.sending(delivery.platform, delivery.agency)
        if watched:
            await self.runtime.redis.zadd(sending, {delivery.id: epoch_ms(now()) + self.lease_ms(adapter)})
        try:
            if delivery.action is Action.PUBLISH:
                return await adapter.publish(account.credentials, delivery, media)
            if delivery.source is None:
                raise PermanentError("an amplification without the post it amplifies")
            return await adapter.amplify(account.credentials, delivery, delivery.source, media)
        except AmbiguousError:
            raise  # it may be out: the mark stays until reconciled or its lease ends
        except Exception:
            if watched:
                await self.runtime.redis.zrem(sending, delivery.id)  # nothing was posted
            raise

    async def _posted(self, delivery: Delivery, entry: Entry, posted: Posted) -> None:
        post = PostRef(
            platform=delivery.platform,
            agency=delivery.agency,
            post_id=posted.post_id,
            chat=posted.chat,
            url=posted.url,
            post_ids=list(posted.post_ids),
        )
        await self.ledger.record_posted(delivery, post, entry.ack)
        self._count(delivery, "posted")
        if delivery.queued_at is not None:
            self.runtime.metrics.posted_after(
                delivery.platform,
                delivery.action.value,
                (now() - delivery.queued_at).total_seconds(),
                own=delivery.action is Action.PUBLISH,
            )
        log.info("delivery.posted", post_id=post.post_id, url=post.url)

    async def _retry(self, delivery: Delivery, entry: Entry, attempts: int, detail: str) -> None:
        settings = self.runtime.settings
        if attempts >= settings.max_attempts:
            await self._dead(
                delivery,
                entry,
                DeadReason.RETRIES_EXHAUSTED,
                f"{detail}; failed {attempts} times, replay when the platform is back",
                attempts,
            )
            return
        delay = backoff_seconds(attempts, settings.backoff_base_seconds, settings.backoff_cap_seconds)
        await self.ledger.reschedule(delivery, now() + timedelta(seconds=delay), entry.ack)
        self._count(delivery, "retry")
        log.warning("delivery.retry_scheduled", attempt=attempts, in_seconds=round(delay, 2), detail=detail)

    async def _reconcile(
        self,
        delivery: Delivery,
        entry: Entry,
        account: Account,
        adapter: Adapter[Any],
        attempts: int,
        why: str,
        claimed_at: datetime | None = None,
    ) -> None:
        try:
            # The claim time tells the platform's check how far back to look (never sent on a stream).
            asked = delivery.model_copy(update={"claimed_at": claimed_at})
            found = await adapter.reconcile(account.credentials, asked)
        except CannotReconcile as error:
            await self._dead(
                delivery,
                entry,
                DeadReason.UNCONFIRMED,
                f"{why}; {error}. Check the account, then `hamafza dlq resolve <id> --posted <url>` or `--absent`",
                attempts,
            )
            return
        except Exception as error:
            await self._dead(
                delivery,
                entry,
                DeadReason.UNCONFIRMED,
                f"{why}; checking failed too ({type(error).__name__}: {error}). Check the account by hand",
                attempts,
            )
            return
        if found is not None:
            log.info("delivery.reconciled", post_id=found.post_id, detail=why)
            await self._posted(delivery, entry, found)
        else:
            log.info("delivery.reconciled_absent", detail=why)
            await self._retry(delivery, entry, attempts, f"{why}; the platform shows no post, sending again")

    async def _dead(
        self, delivery: Delivery, entry: Entry, reason: DeadReason, detail: str, attempts: int = 0
    ) -> None:
        await self.ledger.record_dead(delivery, reason, detail, STAGE, entry.ack, attempts)
        self._count(delivery, "dead")
        log.warning("delivery.dead_lettered", reason=reason.value, detail=detail)

    def _count(self, delivery: Delivery, outcome: str) -> None:
        self.runtime.metrics.delivery(delivery.platform, delivery.action.value, outcome)


def _reason(decision: Decision) -> DeadReason:
    # Every DEAD and PAUSE_AND_DEAD row names its reason (tests/unit/test_deliver_policy.py).
    assert decision.reason is not None, decision.rule
    return decision.reason
