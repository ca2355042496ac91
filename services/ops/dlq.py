"""The dead-letter stream, for people: list, show, replay and purge.

Replays go through the ledger: a delivery that is already posted is never sent again, and one that
ended `unconfirmed` (it may have gone out) is replayed only with `force`, after a person checked,
or settled with `resolve`: `--posted <url or id>` records the post a person found (partners then
amplify it), `--absent` sends it again; the ledger keeps who resolved it and when.
"""

from __future__ import annotations

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
from services.runtime import decode_entry, encode, epoch_ms, now, text

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


class DeadLetters:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._reopen = redis.register_script(_REOPEN)
        self._resolve_posted = redis.register_script(_RESOLVE_POSTED)

    async def select(
        self, count: int | None = None, reason: DeadReason | None = None
    ) -> list[tuple[str, DeadLetter]]:
        letters = await dead_letters(self.redis, self.keys, count)
        return [(i, letter) for i, letter in letters if reason is None or letter.reason is reason]

    async def get(self, letter_id: str) -> DeadLetter | None:
        entries: Any = await self.redis.xrange(self.keys.dead, min=letter_id, max=letter_id)
        return DeadLetter.model_validate(decode_entry(entries[0][1])) if entries else None

    async def replay_one(self, letter_id: str, letter: DeadLetter, *, force: bool) -> str:
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
            return text(outcome)
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
            word = text(outcome)
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
        return text(outcome)

    async def purge(self, letter_ids: list[str]) -> int:
        if not letter_ids:
            return 0
        return int(await self.redis.xdel(self.keys.dead, *letter_ids))
