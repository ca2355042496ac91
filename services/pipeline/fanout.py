"""Fan-out: one agency item → one delivery per target account, each on its platform's stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from adapters import ContentError
from schemas import Action, DeadLetter, DeadReason, Delivery, Item
from services.logs import get_logger
from services.pipeline.consumer import Entry, each_entry
from services.pipeline.ledger import Ledger
from services.pipeline.media import MediaStep
from services.pipeline.ownership import Ownership
from services.pipeline.schedule import Schedule
from services.runtime import (
    BadEntry,
    Runtime,
    decode_entry,
    encode,
    entry_id_order,
    epoch_ms,
    now,
    payload_of,
    preview,
)

GROUP = "fanout"
STAGE = "fanout"
log = get_logger("hamafza.fanout")


def describe_validation(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'item'}: {detail['msg']}"
        for detail in error.errors()
    )


@dataclass
class FanOutPlan:
    """What fan-out makes of one item: the deliveries to queue, and those refused with their reason."""

    deliveries: list[Delivery] = field(default_factory=list)
    refusals: list[tuple[Delivery, DeadReason, str]] = field(default_factory=list)

    def refuse(self, delivery: Delivery, reason: DeadReason, detail: str) -> None:
        self.refusals.append((delivery, reason, detail))


class FanOut:
    def __init__(self, runtime: Runtime, ledger: Ledger, media: MediaStep | None = None) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self.media = media or MediaStep(runtime)
        self.schedule = Schedule(runtime.keys.schedule)  # items with a future publish_at wait here
        self.ownership = Ownership(runtime.redis, runtime.keys)

        self.handle = each_entry(self.handle_entry, "fanout.failed")

    async def _dead(self, entry: Entry, reason: DeadReason, detail: str, item: Item | None = None) -> None:
        letter = DeadLetter(
            reason=reason,
            detail=detail,
            stage=STAGE,
            item_id=item.id if item else None,
            agency=item.agency if item else None,
            attempts=entry.deliveries,
            entry=preview(entry.fields),
            payload=payload_of(entry.fields),
            at=now(),
        )
        await self.ledger.dead_entry(letter, entry.ack)
        log.warning(
            "item.dead_lettered",
            entry_id=entry.id,
            reason=reason.value,
            detail=detail,
            item_id=letter.item_id,
            agency=letter.agency,
        )

    async def handle_entry(self, entry: Entry) -> None:
        settings, keys = self.runtime.settings, self.runtime.keys
        if entry.deliveries > settings.max_deliveries:
            await self._dead(
                entry, DeadReason.POISON, f"entry failed {entry.deliveries - 1} times; see the worker logs"
            )
            return
        try:
            item = Item.model_validate(decode_entry(entry.fields))
        except BadEntry as error:
            await self._dead(entry, DeadReason.INVALID_ENTRY, str(error))
            return
        except ValidationError as error:
            await self._dead(entry, DeadReason.INVALID_ENTRY, f"not an item: {describe_validation(error)}")
            return
        if item.id is None:
            # The entry id is stable across redelivery, so a derived id is too.
            item = item.model_copy(update={"id": f"e{entry.id}"})
        assert item.id is not None
        network = self.runtime.network
        agency = network.agencies.get(item.agency)
        with structlog.contextvars.bound_contextvars(item_id=item.id, agency=item.agency):
            if agency is None:
                await self._dead(
                    entry,
                    DeadReason.UNKNOWN_AGENCY,
                    f"agency {item.agency!r} is not in the network file; add it, then replay",
                    item,
                )
                return
            if not await self.ownership.claim(item.id, item.agency):
                # Naming the owner would tell one agency what another publishes.
                await self._dead(
                    entry,
                    DeadReason.ID_TAKEN,
                    f"item id {item.id!r} belongs to another agency; publish with another id (or none)",
                    item,
                )
                return
            if item.publish_at is not None and item.publish_at > now():
                async with self.runtime.redis.pipeline(transaction=True) as pipe:
                    self.schedule.add(pipe, keys.items, item, item.publish_at)
                    pipe.xack(*entry.ack)
                    await pipe.execute()
                log.info("item.scheduled", publish_at=item.publish_at.isoformat())
                return
            await self._fan_out(entry, item)

    def plan(self, item: Item, added_at: datetime | None = None) -> FanOutPlan:
        """One publish delivery per requested platform, or the reason it cannot be: pure, no I/O.
        `added_at` is the item's XADD time, where the XADD-to-post latency starts."""
        assert item.id is not None
        runtime = self.runtime
        requested = (
            item.platforms if item.platforms is not None else runtime.network.platforms_of(item.agency)
        )
        plan = FanOutPlan()
        for platform in dict.fromkeys(requested):
            delivery = Delivery(
                id=Delivery.make_id(item.id, item.agency, platform, Action.PUBLISH),
                item_id=item.id,
                agency=item.agency,
                platform=platform,
                action=Action.PUBLISH,
                origin_agency=item.agency,
                link=str(item.link) if item.link else None,
                media=item.media,
                campaign=item.campaign,
                amplify=item.amplify,
                priority=item.priority,
                queued_at=added_at,
            )
            adapter = runtime.adapters.get(platform)
            if adapter is None:
                known = ", ".join(sorted(runtime.adapters))
                plan.refuse(
                    delivery, DeadReason.UNKNOWN_PLATFORM, f"no platform {platform!r} (known: {known})"
                )
                continue
            if runtime.network.account(item.agency, platform) is None:
                plan.refuse(
                    delivery,
                    DeadReason.NO_ACCOUNT,
                    f"agency {item.agency!r} has no {platform} account in the network file",
                )
                continue
            try:
                text = adapter.render(item)
            except ContentError as error:
                plan.refuse(delivery, DeadReason.CONTENT_TOO_LONG, str(error))
                continue
            plan.deliveries.append(delivery.model_copy(update={"text": text}))
        return plan

    async def _fan_out(self, entry: Entry, item: Item) -> None:
        assert item.id is not None
        runtime, keys = self.runtime, self.runtime.keys
        # The item's XADD time, from its entry id: where the XADD-to-post latency starts.
        added_at = datetime.fromtimestamp(entry_id_order(entry.id)[0] / 1000, tz=UTC)
        plan = self.plan(item, added_at)
        deliveries, refusals = plan.deliveries, plan.refusals
        if item.media and deliveries:
            # Fetched once here for every platform (and, from the store, for partners' copies later).
            media_refusals = await self.media.prepare(
                item.id, item.media, [runtime.adapters[delivery.platform] for delivery in deliveries]
            )
            refusals += [
                (delivery, DeadReason.MEDIA_REJECTED, media_refusals[delivery.platform])
                for delivery in deliveries
                if delivery.platform in media_refusals
            ]
            deliveries = [delivery for delivery in deliveries if delivery.platform not in media_refusals]
        item_json = item.model_dump_json(exclude_none=True)  # what a replay fans out again
        moment = now()
        item_fields: dict[FieldT, EncodableT] = {
            "agency": item.agency,
            "campaign": item.campaign or "",
            "text": item.text,
            "entry_id": entry.id,
            "received_ms": epoch_ms(moment),
        }
        item_id = item.id

        def fill(pipe: Pipeline) -> None:
            pipe.hset(keys.item(item_id), mapping=item_fields)
            pipe.zadd(keys.item_index, {item_id: epoch_ms(moment)}, nx=True)
            if deliveries:
                pipe.sadd(keys.item_deliveries(item_id), *(delivery.id for delivery in deliveries))
            for delivery in deliveries:
                pipe.xadd(keys.deliveries(delivery.platform), encode(delivery))
            if not refusals:
                pipe.xack(*entry.ack)

        await self.ledger.transaction.run(fill)
        for delivery in deliveries:
            log.info(
                "delivery.queued",
                platform=delivery.platform,
                action=delivery.action.value,
                account=runtime.account_label(runtime.network.accounts[(item.agency, delivery.platform)]),
            )
        for index, (delivery, reason, detail) in enumerate(refusals):
            last = index == len(refusals) - 1
            await self.ledger.record_dead(
                delivery, reason, detail, STAGE, entry.ack if last else None, payload=item_json
            )
            log.warning(
                "delivery.dead_lettered",
                platform=delivery.platform,
                action=delivery.action.value,
                reason=reason.value,
                detail=detail,
            )
        if not deliveries and not refusals:
            log.warning("item.no_targets", detail="the agency has no accounts; nothing to post")
