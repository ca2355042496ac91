"""The delivery ledger: what makes a delivery effectively-once.

Guarantee: a delivery id (item/agency/platform/action) reaches its platform at most once through
Hamafza, and every delivery ends `posted` or `dead` (with a reason) in the ledger.

- Before a platform call, `claim` atomically moves the ledger entry to `sending` with a lease.
  A redelivered entry whose delivery is already `posted` or `dead` is acknowledged untouched.
- After the call, the outcome, its result or dead letter, the rescheduling and the XACK are written
  in one MULTI, so a crash leaves either the old state (the entry is redelivered) or the new one.
- A `sending` entry whose lease ran out means a worker died mid-call: the outcome is ambiguous, and
  the deliver service reconciles it with the platform instead of sending again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from schemas import DeadLetter, DeadReason, Delivery, DeliveryState, PostRef, Result
from services.keys import Keys
from services.ops.metrics import Metrics
from services.pipeline.coalesce import Coalescer, NotReplicated
from services.pipeline.schedule import Schedule
from services.runtime import encode, epoch_ms, now

# KEYS: ledger hash, pause key.  ARGV: now ms, lease ms, item id, agency, platform, action, holder.
# The holder (the worker process) is who renews the lease while its call is in flight (`renew`).
# Returns {verdict, number}: go/attempts, ambiguous/attempts, busy/lease-until, paused/until,
# posted/0, dead/0.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'posted' or state == 'dead' then return {state, 0} end
local now = tonumber(ARGV[1])
if state == 'sending' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if lease > now then return {'busy', lease} end
  redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]), 'holder', ARGV[7])
  return {'ambiguous', tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')}
end
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {'paused', paused} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'sending', 'lease_until', now + tonumber(ARGV[2]),
  'item_id', ARGV[3], 'agency', ARGV[4], 'platform', ARGV[5], 'action', ARGV[6], 'updated_ms', now,
  'holder', ARGV[7], 'claimed_ms', now)
return {'go', attempts}
"""

# A live worker's heartbeat: extends the leases it holds, nothing else.
# KEYS: ledger hashes.  ARGV: now ms, lease ms, holder.  Returns how many were renewed.
_RENEW = """
local renewed = 0
for _, key in ipairs(KEYS) do
  local held = redis.call('HMGET', key, 'state', 'holder')
  if held[1] == 'sending' and held[2] == ARGV[3] then
    redis.call('HSET', key, 'lease_until', tonumber(ARGV[1]) + tonumber(ARGV[2]))
    renewed = renewed + 1
  end
end
return renewed
"""

# KEYS: dead stream, entry's stream.  ARGV: group, entry id, letter JSON.
_DEAD_ENTRY = """
if redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[1], '*', 'data', ARGV[3])
  return 1
end
return 0
"""


# Undo a claim that was never acted on (its WAIT failed, or Redis dropped the connection before the
# reply): only if the ledger still holds exactly that claim (state sending, updated at its moment).
# KEYS: ledger hash.  ARGV: the claim's now ms.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'sending' and redis.call('HGET', KEYS[1], 'updated_ms') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'retry_wait')
  redis.call('HDEL', KEYS[1], 'lease_until')
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  return 1
end
return 0
"""


class ClaimFailed(Exception):
    """The claim is not known to be durable: no platform call may follow. Tried again later."""


class Verdict(StrEnum):
    """What the claim script answers (`_CLAIM`): whether, and how, this worker may call the platform."""

    GO = "go"  # claimed: call the platform (`Claim.number` is the attempt)
    AMBIGUOUS = "ambiguous"  # a worker's lease ran out mid-call: reconcile, never resend blindly
    BUSY = "busy"  # another worker's lease runs (`number`: until when); leave the entry pending
    PAUSED = "paused"  # the account is paused (`number`: until when); reschedule then
    POSTED = "posted"  # already final: acknowledge, touch nothing
    DEAD = "dead"  # already final: acknowledge, touch nothing

    @classmethod
    def parse(cls, raw: bytes | str) -> Verdict:
        return cls(raw.decode() if isinstance(raw, bytes) else raw)


@dataclass(frozen=True)
class Claim:
    verdict: Verdict
    number: int  # attempts, or a time in epoch ms for busy/paused


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (AWS architecture blog), so retries never stampede."""
    return random.uniform(0, min(cap, base * 2 ** max(attempt - 1, 0)))


def amplification_delay(delivery_id: str, low: float, high: float) -> float:
    """A partner's delay, random across deliveries but fixed for one, so redelivery schedules the same."""
    seeded = random.Random(delivery_id)
    return seeded.uniform(low, high)


class Ledger:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics | None = None,
        *,
        claim_replicas: int = 0,
        claim_replica_timeout_ms: int = 500,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.schedule = Schedule(keys.schedule)  # where retries and deferred deliveries wait
        self._release = redis.register_script(_RELEASE)
        # Claims get their own round trips: with replicas, each flush ends in one WAIT.
        self.claims = Coalescer(
            redis, transaction=False, wait_replicas=(claim_replicas, claim_replica_timeout_ms)
        )
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._dead_entry = redis.register_script(_DEAD_ENTRY)
        # Units of work from concurrent deliveries share round trips (see services.coalesce).
        self.plain = Coalescer(redis, transaction=False)
        self.transaction = Coalescer(redis, transaction=True)

    async def renew(self, delivery_ids: list[str], lease_ms: int, holder: str) -> int:
        """Extend the leases `holder` holds on these deliveries (those still `sending`)."""
        if not delivery_ids:
            return 0
        keys = [self.keys.ledger(delivery_id) for delivery_id in delivery_ids]
        return int(await self._renew(keys=keys, args=[epoch_ms(now()), lease_ms, holder]))

    async def claimed_at(self, delivery_id: str) -> datetime | None:
        """When the last call of a delivery was claimed: how far back reconciliation must look."""
        raw: Any = await self.redis.hmget(self.keys.ledger(delivery_id), ["claimed_ms", "updated_ms"])
        stamp = next((value for value in raw if value), None)
        return datetime.fromtimestamp(int(stamp) / 1000, tz=UTC) if stamp else None

    async def claim(self, delivery: Delivery, lease_ms: int, holder: str = "") -> Claim:
        keys = [self.keys.ledger(delivery.id), self.keys.pause(delivery.platform, delivery.agency)]
        args: list[EncodableT] = [
            epoch_ms(now()),
            lease_ms,
            delivery.item_id,
            delivery.agency,
            delivery.platform,
            delivery.action.value,
            holder,
        ]

        def fill(pipe: Pipeline) -> None:
            # EVALSHA; the pipeline loads the script first if Redis lost it (a restart).
            pipe.scripts.add(self._claim)  # type: ignore[arg-type]  # redis-py types it for sync scripts
            pipe.evalsha(self._claim.sha, len(keys), *keys, *args)

        try:
            [(verdict, number)] = await self.claims.run(fill)
        except (NotReplicated, RedisConnectionError, RedisTimeoutError) as error:
            # No call follows. The claim may sit on the primary: take it back, so the retry is a
            # fresh attempt and not an "ambiguous" one that would need a person to check.
            await self._release_claim(keys[0], args[0])
            raise ClaimFailed(f"{type(error).__name__}: {error}") from error
        return Claim(Verdict.parse(verdict), int(number))

    async def _release_claim(self, ledger_key: str, claimed_ms: EncodableT, patience: float = 15.0) -> None:
        """Best effort, through a failover (the new primary answers after a few seconds)."""
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            try:
                await self._release(keys=[ledger_key], args=[claimed_ms])
                return
            except (RedisConnectionError, RedisTimeoutError, ResponseError):
                if asyncio.get_running_loop().time() > deadline:
                    return  # left `sending`: after its lease, the platform is asked (never a blind resend)
                await asyncio.sleep(0.5)

    # --- outcomes: each one MULTI with the acknowledgement of the entry that carried the work ---------

    def _ack(self, pipe: Any, ack: tuple[str, str, str] | None) -> None:
        if ack is not None:
            stream, group, entry_id = ack
            pipe.xack(stream, group, entry_id)

    async def record_posted(
        self, delivery: Delivery, post: PostRef, ack: tuple[str, str, str] | None
    ) -> Result:
        result, fill = self.posted_commands(delivery, post, ack)
        await self.transaction.run(fill)
        return result

    def posted_commands(
        self, delivery: Delivery, post: PostRef, ack: tuple[str, str, str] | None = None
    ) -> tuple[Result, Callable[[Pipeline], None]]:
        """What recording a post writes, for the caller's own transaction (channel watchers record an
        agency's own channel post this way, with the item it becomes)."""
        result = Result(delivery=delivery, state=DeliveryState.POSTED, post=post, at=now())
        ledger_key = self.keys.ledger(delivery.id)
        fields: dict[FieldT, EncodableT] = {
            "state": DeliveryState.POSTED.value,
            "post_id": post.post_id,
            "url": post.url or "",
            "chat": post.chat or "",
            "updated_ms": epoch_ms(result.at),
        }
        entry = encode(result)

        own_posts = [
            self.keys.own_post(delivery.platform, delivery.agency, post_id)
            for post_id in {post.post_id, *post.post_ids}
        ]

        def fill(pipe: Pipeline) -> None:
            # The lease stays: `posted` is final, and claims look at the state first.
            pipe.hset(ledger_key, mapping=fields)
            pipe.xadd(self.keys.results, entry)
            for key in own_posts:
                # What channel watchers must never take as an agency's new post (a week is enough:
                # a watcher sees a channel's posts within seconds).
                pipe.set(key, delivery.id, ex=7 * 24 * 3600)
            pipe.zrem(self.keys.sending(delivery.platform, delivery.agency), delivery.id)
            self._ack(pipe, ack)

        return result, fill

    async def record_dead(
        self,
        delivery: Delivery,
        reason: DeadReason,
        detail: str,
        stage: str,
        ack: tuple[str, str, str] | None,
        attempts: int = 0,
        payload: str | None = None,
    ) -> DeadLetter:
        moment = now()
        letter = DeadLetter(
            reason=reason,
            detail=detail,
            stage=stage,
            item_id=delivery.item_id,
            agency=delivery.agency,
            platform=delivery.platform,
            action=delivery.action,
            attempts=attempts,
            delivery=delivery,
            payload=payload,
            at=moment,
        )
        result = Result(delivery=delivery, state=DeliveryState.DEAD, reason=reason, at=moment)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.ledger(delivery.id),
                mapping={
                    "state": DeliveryState.DEAD.value,
                    "reason": reason.value,
                    "detail": detail,
                    "item_id": delivery.item_id,
                    "agency": delivery.agency,
                    "platform": delivery.platform,
                    "action": delivery.action.value,
                    "updated_ms": epoch_ms(moment),
                },
            )
            pipe.hdel(self.keys.ledger(delivery.id), "lease_until")
            pipe.sadd(self.keys.item_deliveries(delivery.item_id), delivery.id)
            pipe.xadd(self.keys.dead, encode(letter))
            pipe.xadd(self.keys.results, encode(result))
            self._ack(pipe, ack)
            await pipe.execute()
        if self.metrics is not None:
            self.metrics.dead_letter(reason.value)
        return letter

    async def dead_entry(self, letter: DeadLetter, ack: tuple[str, str, str] | None) -> None:
        """A dead letter for an entry that never became a delivery (not JSON, unknown agency…).

        Written only by whoever acknowledges the entry, so an entry handed out twice (a slow first
        handler, then the claimer) still gives one dead letter."""
        if ack is None:
            await self.redis.xadd(self.keys.dead, encode(letter))
            written = True
        else:
            stream, group, entry_id = ack
            written = bool(
                await self._dead_entry(
                    keys=[self.keys.dead, stream], args=[group, entry_id, encode(letter)["data"]]
                )
            )
        if written and self.metrics is not None:
            self.metrics.dead_letter(letter.reason.value)

    async def reschedule(
        self,
        delivery: Delivery,
        due: datetime,
        ack: tuple[str, str, str] | None,
        *,
        pause_until: datetime | None = None,
        refund_attempt: bool = False,
    ) -> None:
        """Send the delivery again at `due`; with `pause_until`, its whole account waits too."""
        ledger_key = self.keys.ledger(delivery.id)
        retry = delivery.model_copy(update={"attempt": delivery.attempt + 1})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                ledger_key, mapping={"state": DeliveryState.RETRY_WAIT.value, "updated_ms": epoch_ms(now())}
            )
            pipe.hdel(ledger_key, "lease_until")
            if refund_attempt:
                pipe.hincrby(ledger_key, "attempts", -1)
            if pause_until is not None:
                pause_key = self.keys.pause(delivery.platform, delivery.agency)
                expires = epoch_ms(pause_until) + 1000
                pipe.set(pause_key, epoch_ms(pause_until), pxat=expires)
                pipe.set(
                    self.keys.pause_reason(delivery.platform, delivery.agency), "rate_limit", pxat=expires
                )
            self.schedule.add(pipe, self.keys.deliveries(delivery.platform), retry, due)
            self._ack(pipe, ack)
            await pipe.execute()

    async def defer(self, delivery: Delivery, due: datetime, ack: tuple[str, str, str] | None) -> None:
        """Hand an unclaimed delivery back to the schedule; the ledger is untouched, so whatever state it
        has (even `posted`, for a redelivery) is what the next claim will find."""
        stream = self.keys.deliveries(delivery.platform)

        def fill(pipe: Pipeline) -> None:
            self.schedule.add(pipe, stream, delivery, due)
            self._ack(pipe, ack)

        await self.transaction.run(fill)

    async def pause_account(self, platform: str, agency: str, until: datetime, reason: str = "auth") -> None:
        """Hold every delivery of one account until `until`; the others go on. `reason`: why (auth,
        rate_limit), for `hamafza accounts paused` and the paused-accounts gauge."""
        expires = epoch_ms(until) + 1000
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.pause(platform, agency), epoch_ms(until), pxat=expires)
            pipe.set(self.keys.pause_reason(platform, agency), reason, pxat=expires)
            await pipe.execute()

    async def resume_account(self, platform: str, agency: str) -> int:
        """Lift an account's pause and release its held deliveries now; returns how many were held."""
        await self.redis.delete(self.keys.pause(platform, agency), self.keys.pause_reason(platform, agency))
        return await self.schedule.bring_forward(
            self.redis, self.keys.deliveries(platform), lambda delivery: delivery.get("agency") == agency
        )
