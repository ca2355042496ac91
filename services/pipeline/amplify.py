"""Amplify: when an agency's own post goes out, its network partners amplify it after a delay.

Rules: only own posts are amplified (never an amplification); an agency never amplifies itself;
amplification is the platform's repost/forward, or a `copy` where the platform has none: the partner
posts the item (its media too) in its own wording from `copy_template`, linking to the original; never
the same text from several accounts (X forbids it; see `copy_text`); an agency in several networks
with the same partner amplifies once (same delivery id).
Each network's policy (services/governance) then decides per partner: scheduled, held for the
partner's approver, or refused; quiet hours and the minimum gap move the due moments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from pydantic import ValidationError
from redis.asyncio.client import Pipeline

from schemas import Action, Approver, Delivery, DeliveryState, Item, Result
from schemas.network import DEFAULT_COPY_TEMPLATE, NetworkConfig
from services.governance.approvals import Approval, Approvals
from services.governance.gatekeeper import Gatekeeper, Planned
from services.logs import get_logger
from services.pipeline.consumer import Entry, each_entry
from services.pipeline.copy_text import CopyRequest, distinct_copies, fit_copy, render_copy
from services.pipeline.ledger import Ledger, amplification_delay
from services.pipeline.schedule import Schedule
from services.runtime import BadEntry, Runtime, decode_entry, now

GROUP = "amplify"
log = get_logger("hamafza.amplify")


def copy_template_for(members: NetworkConfig, partner: str) -> str:
    """The template of `partner`'s copies in a network: the partner's own (its policy), else the
    network's, else the default. The one place this is decided."""
    own = members.policy.for_partner(partner).copy_template
    return own or members.copy_template or DEFAULT_COPY_TEMPLATE


async def _no_request(approval: Approval) -> None:
    """Without an approvals service in this process, its sweeper sends the request instead."""


async def _no_intent(delivery: Delivery, approver: Approver) -> None:
    """Intents are sent by the approvals desk; a process without one does not send them."""


class Amplify:
    def __init__(
        self,
        runtime: Runtime,
        ledger: Ledger,
        on_approval_requested: Callable[[Approval], Awaitable[object]] = _no_request,
        on_intent: Callable[[Delivery, Approver], Awaitable[object]] = _no_intent,
    ) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self.schedule = Schedule(runtime.keys.schedule)  # partners' amplifications wait here
        self.gatekeeper = Gatekeeper(runtime, Approvals(runtime.redis, runtime.keys))
        self.on_approval_requested = on_approval_requested
        self.on_intent = on_intent

        self.handle = each_entry(self.handle_entry, "amplify.failed")

    def plan(self, result: Result) -> list[tuple[Delivery, float]]:
        """The partners' amplifications of one posted result, each with its delay in seconds."""
        source, post = result.delivery, result.post
        if result.state is not DeliveryState.POSTED or post is None:
            return []
        if source.action is not Action.PUBLISH or not source.amplify:
            return []
        network = self.runtime.network
        planned: dict[str, tuple[Delivery, float]] = {}
        copies: list[CopyRequest] = []
        for network_name, members in network.networks_of(source.agency):
            action_name = members.amplify.get(source.platform)
            if action_name is None:
                continue
            adapter = self.runtime.adapters.get(source.platform)
            action = adapter.action_for(action_name) if adapter is not None else None
            for partner in members.members:
                if partner == source.agency or network.account(partner, source.platform) is None:
                    continue
                if action is None:
                    log.info(
                        "amplify.unsupported", partner=partner, network=network_name, requested=action_name
                    )
                    continue
                delivery_id = Delivery.make_id(source.item_id, partner, source.platform, action)
                if delivery_id in planned:
                    continue
                text = ""
                if action is Action.COPY:
                    copies.append(self._copy_request(result, copy_template_for(members, partner), partner))
                elif action is Action.QUOTE:
                    # Each partner's own words, so no two accounts post identical text.
                    partner_name = network.agencies[partner].name
                    origin_name = network.agencies[source.agency].name
                    text = f"{partner_name} بازنشر می‌کند از {origin_name}"
                delivery = Delivery(
                    id=delivery_id,
                    item_id=source.item_id,
                    agency=partner,
                    platform=source.platform,
                    action=action,
                    origin_agency=source.agency,
                    text=text,
                    campaign=source.campaign,
                    source=post,
                    amplify=False,
                    priority=source.priority,
                    network=network_name,
                    queued_at=result.at,
                    # A copy is a post of the item: it carries the item's link and media.
                    link=source.link if action is Action.COPY else None,
                    media=list(source.media) if action is Action.COPY else [],
                )
                low, high = members.delay_seconds
                planned[delivery_id] = (delivery, amplification_delay(delivery_id, low, high))
        for delivery_id, text in self._copy_texts(result, copies).items():
            delivery, delay = planned[delivery_id]
            planned[delivery_id] = (delivery.model_copy(update={"text": text}), delay)
        return list(planned.values())

    def _copy_request(self, result: Result, template: str, partner: str) -> CopyRequest:
        source, agencies = result.delivery, self.runtime.network.agencies
        origin_url = (result.post.url if result.post else None) or source.link or ""
        return CopyRequest(
            partner=partner,
            template=template,
            text=source.text,
            origin=agencies[source.agency].name,
            partner_name=agencies[partner].name,
            origin_url=origin_url,
        )

    def _copy_texts(self, result: Result, copies: list[CopyRequest]) -> dict[str, str]:
        """Each copy's wording by delivery id: distinct from the original and from one another, and
        within the platform's limit (the item's text is cut, never the attribution)."""
        source = result.delivery
        adapter = self.runtime.adapters.get(source.platform)
        if not copies or adapter is None:
            return {}
        # Only the media count matters to the limit (a caption's or a text's).
        item = Item.model_construct(agency=source.agency, text=source.text, media=source.media)
        limit, _ = adapter.limit_for(item)
        texts = {}
        for request, signature in distinct_copies(source.text, copies):
            delivery_id = Delivery.make_id(source.item_id, request.partner, source.platform, Action.COPY)
            fitted = fit_copy(request, signature, adapter.measure, limit)
            # Nothing fits beside the attribution: sent whole, the platform's refusal dead-letters it.
            texts[delivery_id] = fitted if fitted is not None else render_copy(request, signature=signature)
        return texts

    async def handle_entry(self, entry: Entry) -> None:
        try:
            result = Result.model_validate(decode_entry(entry.fields))
        except (BadEntry, ValidationError):
            # Results are written only by Hamafza; a foreign entry is skipped, not amplified.
            log.warning("amplify.skipped_foreign_entry", entry_id=entry.id)
            await self.runtime.redis.xack(*entry.ack)
            return
        keys = self.runtime.keys
        planned = [
            Planned(delivery, delivery.network or "", result.at + timedelta(seconds=delay))
            for delivery, delay in self.plan(result)
        ]
        at = now()
        placement = await self.gatekeeper.admit(planned, urgent=result.delivery.priority == "urgent", now=at)
        admitted, refused = placement.scheduled, placement.refused
        refused_ids = {delivery.id for delivery, _ in refused}

        def fill(pipe: Pipeline) -> None:
            for plan in planned:
                # Held ones belong to the item too: its status shows them awaiting approval.
                if plan.delivery.id not in refused_ids:
                    pipe.sadd(keys.item_deliveries(plan.delivery.item_id), plan.delivery.id)
            for delivery, due in admitted:
                self.schedule.add(pipe, keys.deliveries(delivery.platform), delivery, due)
            self.gatekeeper.remember(pipe, admitted)
            pipe.xack(*entry.ack)

        await self.ledger.transaction.run(fill)
        for approval in self.gatekeeper.requested:
            await self.on_approval_requested(approval)
        for delivery, approver in placement.intents:
            await self.on_intent(delivery, approver)
        held_ids = {delivery.id for _, delivery in placement.held}
        outcomes: list[tuple[Delivery, str, dict[str, object]]] = [
            (d, "amplification.scheduled", {"in_seconds": round((due - at).total_seconds(), 1)})
            for d, due in admitted
        ]
        outcomes += [(d, "amplification.refused_by_policy", {"detail": why}) for d, why in refused]
        outcomes += [(d, "amplification.intent_requested", {}) for d, _ in placement.intents]
        outcomes += [
            (p.delivery, "amplification.awaiting_approval", {}) for p in planned if p.delivery.id in held_ids
        ]
        for delivery, event, fields in outcomes:
            with structlog.contextvars.bound_contextvars(
                item_id=delivery.item_id,
                agency=delivery.agency,
                platform=delivery.platform,
                action=delivery.action.value,
                origin_agency=delivery.origin_agency,
                account=self.runtime.account_label(
                    self.runtime.network.accounts[(delivery.agency, delivery.platform)]
                ),
            ):
                log.info(event, **fields)
