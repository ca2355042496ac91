"""Dead letters, for people: list, show, replay and purge.

With the records database (the normal case) letters are read from it, and what a person did about
each (replayed, purged: by whom, when, with what outcome) is written beside it; without one, from the
dead stream. Replays go through the ledger, and first through the records: a delivery recorded as
posted is never sent again, even once its ledger has expired. One that ended `unconfirmed` (it may
have gone out) is replayed only with `force`, after a person checked. Unconfirmed ones may also be settled with `resolve`: `--posted <url or id>` records the post a person found (partners then
amplify it), `--absent` sends it again; the ledger keeps who resolved it and when.
"""

from __future__ import annotations

import getpass
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis

from schemas import DeadLetter, DeadReason, Delivery, DeliveryState, PostRef, Result
from services.keys import Keys
from services.ops.status import dead_letters
from services.records.repository import Records
from services.runtime import decode_entry, encode, epoch_ms, now

# KEYS: ledger hash, dead stream, target stream.  ARGV: dead-letter id, delivery JSON, force (0/1),
# the letter's reason, and for `resolve --absent` who resolved it and when (ms).
# Returns what happened, as a word.
_REOPEN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'posted' then
  redis.call('XDEL', KEYS[2], ARGV[1])
  return 'already_posted'
end
if state and state ~= 'dead' then return 'in_flight' end
if ARGV[4] == 'unconfirmed' and ARGV[3] ~= '1' then return 'needs_force' end
redis.call('HSET', KEYS[1], 'state', 'pending', 'attempts', 0)
redis.call('PERSIST', KEYS[1])  -- in flight again: no time to live until it is recorded again
redis.call('HDEL', KEYS[1], 'reason', 'detail', 'lease_until')
if ARGV[5] and ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'resolution', 'absent', 'resolved_by', ARGV[5], 'resolved_ms', ARGV[6])
end
redis.call('XADD', KEYS[3], '*', 'data', ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[1])
return 'replayed'
"""

# A person saw the post of an `unconfirmed` delivery: the ledger records it posted, with who and when,
# and its result goes out, so partners amplify it as if the call had answered.
# KEYS: ledger hash, dead stream, results stream.
# ARGV: dead-letter id, result JSON, post id, url, chat, resolved by, now ms.
_RESOLVE_POSTED = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'posted' then
  redis.call('XDEL', KEYS[2], ARGV[1])
  return 'already_posted'
end
if state and state ~= 'dead' then return 'in_flight' end
redis.call('HSET', KEYS[1], 'state', 'posted', 'post_id', ARGV[3], 'url', ARGV[4], 'chat', ARGV[5],
  'resolution', 'posted', 'resolved_by', ARGV[6], 'resolved_ms', ARGV[7], 'updated_ms', ARGV[7])
redis.call('HDEL', KEYS[1], 'reason', 'detail', 'lease_until')
redis.call('XADD', KEYS[3], '*', 'data', ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[1])
return 'resolved_posted'
"""


def post_ref(delivery: Delivery, posted: str, chat: str | None) -> PostRef:
    """The post a person found, from its URL (the id is its last path segment) or its bare id."""
    value = posted.strip()
    if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", value):
        segments = [part for part in urlsplit(value).path.split("/") if part]
        if not segments:
            raise ValueError(f"{value!r} names no post: give the post's own URL or its id")
        return PostRef(
            platform=delivery.platform, agency=delivery.agency, post_id=segments[-1], chat=chat, url=value
        )
    if not value or any(character.isspace() for character in value):
        raise ValueError(f"{value!r} is neither a URL nor a post id")
    return PostRef(platform=delivery.platform, agency=delivery.agency, post_id=value, chat=chat)


@dataclass
class ReplayReport:
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def replayed(self) -> int:
        return self.outcomes["replayed"]


# What a replay's outcome means for the letter: handled (and how), or still open.
_HANDLED = {"replayed": "replayed", "already_posted": "replayed"}


class DeadLetters:
    def __init__(
        self, redis: Redis, keys: Keys, records: Records | None = None, by: str | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.records = records
        self.by = by or getpass.getuser()
        self._reopen = redis.register_script(_REOPEN)
        self._resolve_posted = redis.register_script(_RESOLVE_POSTED)

    async def select(
        self, count: int | None = None, reason: DeadReason | None = None
    ) -> list[tuple[str, DeadLetter]]:
        """Open dead letters, oldest first."""
        if self.records is not None:
            found = await self.records.dead_letters(reason=reason.value if reason else None, count=count)
            chosen = [(row.id, DeadLetter.model_validate(row.letter)) for row in found]
            chosen += await self.unrecorded(reason, count)
            return chosen[:count] if count is not None else chosen
        letters = await dead_letters(self.redis, self.keys, count)
        return [(i, letter) for i, letter in letters if reason is None or letter.reason is reason]

    async def unrecorded(
        self, reason: DeadReason | None = None, count: int | None = None
    ) -> list[tuple[str, DeadLetter]]:
        """Letters still in the stream that the recorder has not recorded yet (it lags, or is down)."""
        assert self.records is not None
        waiting = await dead_letters(self.redis, self.keys, count)
        known = await self.records.known_letters([letter_id for letter_id, _ in waiting])
        return [
            (i, letter)
            for i, letter in waiting
            if i not in known and (reason is None or letter.reason is reason)
        ]

    async def get(self, letter_id: str) -> DeadLetter | None:
        if self.records is not None:
            row = await self.records.dead_letter(letter_id)
            if row is not None:
                return DeadLetter.model_validate(row.letter)
        entries: Any = await self.redis.xrange(self.keys.dead, min=letter_id, max=letter_id)
        return DeadLetter.model_validate(decode_entry(entries[0][1])) if entries else None

    async def replay_one(self, letter_id: str, letter: DeadLetter, *, force: bool) -> str:
        outcome = await self._replay_one(letter_id, letter, force=force)
        status = _HANDLED.get(outcome)
        if status is not None and self.records is not None:
            await self.records.mark_letter(letter_id, status, self.by, outcome, now())
        return outcome

    async def _replay_one(self, letter_id: str, letter: DeadLetter, *, force: bool) -> str:
        if letter.delivery is not None and self.records is not None:
            recorded = await self.records.delivery(letter.delivery.id)
            if recorded is not None and recorded.state == "posted":
                # Posted since (or its ledger expired after the retention): nothing is sent.
                await self.redis.xdel(self.keys.dead, letter_id)
                return "already_posted"
        if letter.delivery is not None:
            delivery = letter.delivery.model_copy(update={"attempt": 0})
            if letter.stage == "fanout" and letter.payload is not None:
                # Refused before rendering: the item is fanned out again (its posted siblings are
                # skipped by the ledger), so a fixed network file or adapter applies.
                stream, data = self.keys.items, letter.payload
            else:
                stream, data = (
                    self.keys.deliveries(delivery.platform),
                    delivery.model_dump_json(exclude_none=True),
                )
            outcome = await self._reopen(
                keys=[self.keys.ledger(delivery.id), self.keys.dead, stream],
                args=[letter_id, data, "1" if force else "0", letter.reason.value],
            )
            return outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if letter.payload is None:
            return "not_replayable"
        payload = letter.payload
        if letter.item_id is not None:
            # Keep the item id the first attempt derived, so a replay is the same item, once.
            try:
                document = json.loads(payload)
            except json.JSONDecodeError:
                document = None
            if isinstance(document, dict) and "id" not in document:
                payload = json.dumps({**document, "id": letter.item_id}, ensure_ascii=False)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.items, {"data": payload})
            pipe.xdel(self.keys.dead, letter_id)
            await pipe.execute()
        return "replayed"

    async def replay(
        self,
        selected: list[tuple[str, DeadLetter]],
        *,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> ReplayReport:
        report = ReplayReport()
        for letter_id, letter in selected:
            outcome = await self.replay_one(letter_id, letter, force=force)
            report.outcomes[outcome] += 1
            if progress is not None:
                progress(outcome)
        return report

    async def resolve(
        self,
        letter_id: str,
        *,
        posted: str | None = None,
        absent: bool = False,
        by: str,
        chat: str | None = None,
    ) -> str:
        """`_resolve`, and the records keep what was done (resolved: posted or absent), by whom, when."""
        outcome = await self._resolve(letter_id, posted=posted, absent=absent, by=by, chat=chat)
        if self.records is not None and outcome in {"resolved_posted", "resolved_absent"}:
            await self.records.mark_letter(letter_id, "resolved", by, outcome, now())
        return outcome

    async def _resolve(
        self,
        letter_id: str,
        *,
        posted: str | None = None,
        absent: bool = False,
        by: str,
        chat: str | None = None,
    ) -> str:
        """Settle an `unconfirmed` delivery a person has checked: `posted` (its URL or id) records it
        as posted and lets partners amplify it; `absent` sends it again. Both through the ledger."""
        if (posted is None) == (not absent):
            raise ValueError("say either --posted <url or id> or --absent")
        letter = await self.get(letter_id)
        if letter is None:
            return "no_such_letter"
        if letter.delivery is None or letter.reason is not DeadReason.UNCONFIRMED:
            return "not_unconfirmed"
        delivery = letter.delivery
        moment = now()
        if absent:
            outcome = await self._reopen(
                keys=[self.keys.ledger(delivery.id), self.keys.dead, self.keys.deliveries(delivery.platform)],
                args=[
                    letter_id,
                    delivery.model_copy(update={"attempt": 0}).model_dump_json(exclude_none=True),
                    "1",
                    letter.reason.value,
                    by,
                    epoch_ms(moment),
                ],
            )
            word = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
            return "resolved_absent" if word == "replayed" else word
        assert posted is not None
        post = post_ref(delivery, posted, chat)
        result = Result(delivery=delivery, state=DeliveryState.POSTED, post=post, at=moment)
        outcome = await self._resolve_posted(
            keys=[self.keys.ledger(delivery.id), self.keys.dead, self.keys.results],
            args=[
                letter_id,
                encode(result)["data"],
                post.post_id,
                post.url or "",
                post.chat or "",
                by,
                epoch_ms(moment),
            ],
        )
        return outcome.decode() if isinstance(outcome, bytes) else str(outcome)

    async def purge(self, letter_ids: list[str]) -> int:
        """Letters that need nothing more: gone from the stream, and marked purged in the records."""
        if not letter_ids:
            return 0
        deleted = int(await self.redis.xdel(self.keys.dead, *letter_ids))
        if self.records is None:
            return deleted
        moment = now()
        for letter_id in letter_ids:
            await self.records.mark_letter(letter_id, "purged", self.by, "purged", moment)
        return len(letter_ids)
