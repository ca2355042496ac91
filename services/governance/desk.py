"""The approval desk: asks a partner's approver in their own messenger, and carries out decisions.

The request goes to `approver.chat_id` with the partner's own bot on `approver.platform`: who
published what, the proposed action on each platform with a link to the original post, until when
the request stands, and two buttons. A press decides only when it comes from that chat, through that
bot's update stream; the HTTP API and the CLI decide with the partner's own token or an operator's
hand. Every decision is made once (`Approvals.decide`); what an approval held then goes to the
schedule (approved) or is dropped (declined, expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime

import jdatetime

from adapters import ButtonPress, Choice, DeliveryError
from schemas import Approver, Delivery
from services.governance.approvals import Approval, Approvals, ApprovalState, Decision
from services.governance.gatekeeper import Gatekeeper, released
from services.governance.policy import TEHRAN
from services.logs import get_logger
from services.runtime import Runtime, epoch_ms, now, text

log = get_logger("hamafza.approvals")

PRESS_PREFIX = "hz"
VERDICTS = {"ok": ApprovalState.APPROVED, "no": ApprovalState.DECLINED}
STATE_TITLES = {
    ApprovalState.AWAITING: "در انتظار تأیید",
    ApprovalState.APPROVED: "تأیید شده",
    ApprovalState.DECLINED: "رد شده",
    ApprovalState.EXPIRED: "منقضی شده",
}
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def press_data(verdict: str, code: str) -> str:
    return f"{PRESS_PREFIX}:{verdict}:{code}"


def parse_press(data: str) -> tuple[ApprovalState, str] | None:
    """`hz:ok:<code>` → (approved, code); anything else is not ours."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != PRESS_PREFIX or parts[1] not in VERDICTS or not parts[2].isalnum():
        return None
    return VERDICTS[parts[1]], parts[2]


def tehran_text(moment: str | datetime) -> str:
    """`۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰` in Tehran time."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = jdatetime.datetime.fromgregorian(datetime=value.astimezone(TEHRAN))
    return str(local.strftime("%Y/%m/%d ساعت %H:%M")).translate(_PERSIAN_DIGITS)


class ApprovalDesk:
    def __init__(self, runtime: Runtime, approvals: Approvals | None = None) -> None:
        self.runtime = runtime
        self.approvals = approvals or Approvals(runtime.redis, runtime.keys)
        self.gatekeeper = Gatekeeper(runtime, self.approvals)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # --- asking ----------------------------------------------------------------------------------

    def request_text(self, approval: Approval, held: list[Delivery]) -> str:
        network = self.runtime.network
        origin = network.agencies[approval.origin_agency].name
        partner = network.agencies[approval.partner].name
        lines = [
            "درخواست بازنشر از هم‌افزا",
            f"«{origin}» مطلبی منتشر کرده است. پیشنهاد می‌شود «{partner}» آن را این‌گونه بازنشر کند:",
        ]
        for delivery in sorted(held, key=lambda d: d.platform):
            adapter = self.runtime.adapters.get(delivery.platform)
            title = adapter.title if adapter else delivery.platform
            label = adapter.label_of(delivery.action) if adapter else delivery.action.value
            link = delivery.source.url if delivery.source and delivery.source.url else ""
            lines.append(f"• {title}: {label} {link}".rstrip())
        lines.append(
            f"این درخواست تا {tehran_text(approval.expires_at)} (به وقت تهران) معتبر است؛ "
            "برای انتشار «تأیید» و برای خودداری «رد» را بزنید."
        )
        return "\n".join(lines)

    async def request(self, approval: Approval) -> bool:
        """Send the approval's request once (a lock keeps two processes from both sending it)."""
        current = await self.approvals.get(approval.id)
        if current is None or current.state is not ApprovalState.AWAITING or current.request_message:
            return False
        lock = self.runtime.keys.approval_request_lock(approval.id)
        if not await self.runtime.redis.set(lock, self.runtime.consumer, nx=True, ex=120):
            return False
        try:
            account = self.runtime.network.account(current.partner, current.approver_platform)
            adapter = self.runtime.adapters.get(current.approver_platform)
            if account is None or adapter is None:
                log.warning(
                    "approval.cannot_ask",
                    approval_id=current.id,
                    reason="no account on the approver's platform",
                )
                return False
            held = [delivery for _, delivery in (await self.approvals.held(current.id)).values()]
            choices = [
                Choice("✅ تأیید", press_data("ok", current.code)),
                Choice("❌ رد", press_data("no", current.code)),
            ]
            try:
                message_id = await adapter.ask(
                    account.credentials, current.approver_chat, self.request_text(current, held), choices
                )
            except DeliveryError as error:
                log.warning("approval.request_failed", approval_id=current.id, detail=str(error))
                return False
            await self.approvals.note_request(current.id, message_id)
            log.info(
                "approval.requested", approval_id=current.id, partner=current.partner, item_id=current.item_id
            )
            return True
        finally:
            await self.runtime.redis.delete(lock)

    async def send_intent(self, delivery: Delivery, approver: Approver) -> bool:
        """Send the partner's approver a link to amplify by hand; recorded as `requested`, once."""
        keys = self.runtime.keys
        ledger = keys.ledger(delivery.id)
        if await self.runtime.redis.hget(ledger, "state") is not None:
            return False
        adapter = self.runtime.adapters.get(delivery.platform)
        asker = self.runtime.adapters.get(approver.platform)
        account = self.runtime.network.account(delivery.agency, approver.platform)
        url = adapter.intent_url(delivery.source) if adapter is not None and delivery.source else None
        if url is None or asker is None or account is None:
            log.warning("intent.cannot_send", delivery_id=delivery.id, approver_platform=approver.platform)
            return False
        lock = keys.approval_request_lock(delivery.id)
        if not await self.runtime.redis.set(lock, self.runtime.consumer, nx=True, ex=120):
            return False
        try:
            network = self.runtime.network
            text = (
                f"«{network.agencies[delivery.origin_agency].name}» در {adapter.title if adapter else ''} "
                f"مطلبی منتشر کرده است. اگر «{network.agencies[delivery.agency].name}» می‌خواهد آن را "
                "بازنشر کند، این پیوند را باز کنید و خودتان بازنشر را بزنید؛ هم‌افزا از طرف شما "
                f"بازنشر نمی‌کند:\n{url}"
            )
            try:
                message_id = await asker.ask(account.credentials, approver.chat_id, text, ())
            except DeliveryError as error:
                log.warning("intent.request_failed", delivery_id=delivery.id, detail=str(error))
                return False
            at = now().isoformat()
            await self.runtime.redis.hset(
                ledger,
                mapping={"state": "requested", "url": url, "post_id": message_id, "requested_at": at},
            )
            await self.runtime.redis.xadd(
                keys.approvals_events,
                {
                    "data": json.dumps(
                        {
                            "id": delivery.id,
                            "kind": "intent",
                            "item_id": delivery.item_id,
                            "partner": delivery.agency,
                            "origin_agency": delivery.origin_agency,
                            "network": delivery.network,
                            "platforms": [delivery.platform],
                            "state": "requested",
                            "url": url,
                            "requested_at": at,
                        },
                        ensure_ascii=False,
                    )
                },
            )
            log.info(
                "intent.requested", delivery_id=delivery.id, item_id=delivery.item_id, agency=delivery.agency
            )
            return True
        finally:
            await self.runtime.redis.delete(lock)

    # --- deciding --------------------------------------------------------------------------------

    async def decide(self, approval_id: str, state: ApprovalState, by: str) -> Decision:
        decision = await self.approvals.decide(approval_id, state, by, now())
        approval = decision.approval
        if approval is None:
            return decision
        if approval.state is ApprovalState.APPROVED:
            await self.release(approval)  # also after a crash: what it still holds goes out
        elif approval.state in (ApprovalState.DECLINED, ApprovalState.EXPIRED):
            await self.approvals.drop_held(approval.id)
        if decision.changed:
            log.info(
                "approval.decided",
                approval_id=approval.id,
                state=approval.state.value,
                decided_by=by,
                partner=approval.partner,
                item_id=approval.item_id,
            )
        return decision

    async def release(self, approval: Approval) -> int:
        held = await self.approvals.held(approval.id)
        if not held:
            return 0
        deliveries = {delivery_id: delivery for delivery_id, (_, delivery) in held.items()}
        policy = self.runtime.network.file.networks[approval.network].policy
        urgent = any(d.priority == "urgent" for d in deliveries.values())
        at = now()
        last = await self.gatekeeper.last_due((d.item_id, d.platform) for d in deliveries.values())
        out = released(
            [(d, approval.network) for d in deliveries.values()], policy, urgent=urgent, now=at, last_due=last
        )
        scheduled = {d.id: (held[d.id][0], epoch_ms(due)) for d, due in out}
        await self.approvals.release(approval.id, scheduled, self.runtime.keys.schedule)
        async with self.runtime.redis.pipeline(transaction=True) as pipe:
            self.gatekeeper.remember(pipe, out)
            await pipe.execute()
        for delivery, due in out:
            log.info(
                "amplification.scheduled",
                item_id=delivery.item_id,
                agency=delivery.agency,
                platform=delivery.platform,
                action=delivery.action.value,
                in_seconds=round((due - at).total_seconds(), 1),
                approval_id=approval.id,
            )
        return len(out)

    async def on_update(self, platform: str, agencies: tuple[str, ...], event: object) -> None:
        """A button press from a bot's update stream (other events belong to other handlers)."""
        if not isinstance(event, ButtonPress):
            return
        parsed = parse_press(event.data)
        if parsed is None:
            return
        verdict, code = parsed
        approval = await self.approvals.by_code(code)
        if (
            approval is None
            or approval.partner not in agencies
            or approval.approver_platform != platform
            or event.chat != approval.approver_chat
        ):
            # Only the configured approver chat decides, and only through the partner's own bot.
            log.warning("approval.press_refused", platform=platform, chat=event.chat, code=code)
            await self._answer(
                platform, agencies, event, "این گفتگو اجازهٔ تصمیم دربارهٔ این درخواست را ندارد."
            )
            return
        decision = await self.decide(approval.id, verdict, by=f"{platform}:{event.user or event.chat}")
        final = decision.approval or approval
        if decision.changed:
            reply = (
                "تأیید شد؛ بازنشر در نوبت انتشار قرار گرفت."
                if final.state is ApprovalState.APPROVED
                else "رد شد؛ چیزی منتشر نمی‌شود."
            )
        else:
            reply = f"این درخواست پیش‌تر «{STATE_TITLES[final.state]}» شده است."
        await self._answer(platform, agencies, event, reply)

    async def _answer(self, platform: str, agencies: tuple[str, ...], press: ButtonPress, reply: str) -> None:
        """Acknowledge a press with the bot that received it (any account of its agencies uses it)."""
        adapter = self.runtime.adapters.get(platform)
        accounts = (self.runtime.network.account(agency, platform) for agency in agencies)
        account = next((a for a in accounts if a is not None), None)
        if adapter is None or account is None:
            return
        try:
            await adapter.answer(account.credentials, press, reply)
        except DeliveryError as error:
            log.warning("approval.answer_failed", platform=platform, detail=str(error))

    # --- the sweep: expiry, unsent requests, what an approval still holds --------------------------

    async def sweep(self) -> None:
        moment = now()
        for approval_id in await self.approvals.expiring(moment):
            await self.decide(approval_id, ApprovalState.EXPIRED, by="system")
        waiting = await self.runtime.redis.zrange(self.runtime.keys.approvals_expiring, 0, 200)
        for raw in waiting:
            approval = await self.approvals.get(text(raw))
            if approval is not None and approval.request_message is None:
                await self.request(approval)
        for raw in await self.runtime.redis.smembers(self.runtime.keys.approvals_releasing):
            approval = await self.approvals.get(text(raw))
            if approval is not None and approval.state is ApprovalState.APPROVED:
                await self.release(approval)

    async def run(self, interval_seconds: float = 5.0) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except Exception:
                log.warning("approvals.sweep_failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval_seconds)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="hamafza-approvals")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
