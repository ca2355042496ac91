"""Where each planned amplification goes under its network's policy: the schedule, an approval, or nowhere.

`place` is pure: it takes the amplifications the amplify service planned for one posted result (each
with the moment the network's random delay makes it due) and returns what to schedule when, what to
hold for which approver, and what the policy refuses. `Gatekeeper` carries that out in Redis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import Action, AmplificationPolicy, Approver, Delivery, PolicyMode
from services.governance.approvals import Approval, Approvals, ApprovalState, HoldOutcome
from services.governance.policy import Gate, after_quiet_hours, gate, skips_quiet_hours, staggered
from services.pipeline.schedule import Schedule
from services.runtime import Runtime, epoch_ms


@dataclass(frozen=True)
class Planned:
    """One partner's amplification of one post, due after the network's delay."""

    delivery: Delivery
    network: str
    due: datetime


@dataclass
class Placement:
    scheduled: list[tuple[Delivery, datetime]] = field(default_factory=list)
    held: list[tuple[Approval, Delivery]] = field(default_factory=list)
    refused: list[tuple[Delivery, str]] = field(default_factory=list)
    # `intent` amplifications: a link for the partner's approver to amplify by hand.
    intents: list[tuple[Delivery, Approver]] = field(default_factory=list)


def place(
    planned: Iterable[Planned],
    policies: Mapping[str, AmplificationPolicy],
    *,
    urgent: bool,
    now: datetime,
    last_due: Mapping[tuple[str, str], datetime] | None = None,
) -> Placement:
    """Apply each partner's gate, quiet hours and the minimum gap between partners of one item.

    `policies` maps a network's name to its policy; `last_due` gives, per (item, platform), the latest
    amplification already scheduled, so that a later batch (an approval granted later) keeps the gap.
    """
    placement = Placement()
    to_schedule: dict[tuple[str, str], list[tuple[Planned, datetime]]] = defaultdict(list)
    for plan in planned:
        policy = policies[plan.network]
        delivery = plan.delivery
        approver = policy.for_partner(delivery.agency).approver
        if delivery.action is Action.INTENT and gate(policy, delivery.agency, urgent) is not Gate.OFF:
            if approver is None:
                placement.refused.append(
                    (delivery, f"an intent needs {plan.network}.policy.partners.{delivery.agency}.approver")
                )
            else:
                placement.intents.append((delivery, approver))
            continue
        match gate(policy, delivery.agency, urgent):
            case Gate.OFF:
                placement.refused.append((delivery, f"{delivery.agency} does not amplify in {plan.network}"))
            case Gate.APPROVE:
                partner = policy.for_partner(delivery.agency)
                assert partner.approver is not None  # the schema requires one for approve
                approval_id = Approval.make_id(delivery.item_id, delivery.agency)
                approval = Approval(
                    id=approval_id,
                    item_id=delivery.item_id,
                    partner=delivery.agency,
                    origin_agency=delivery.origin_agency,
                    network=plan.network,
                    approver_platform=partner.approver.platform,
                    approver_chat=partner.approver.chat_id,
                    state=ApprovalState.AWAITING,
                    requested_at=now.isoformat(),
                    expires_at=(now + timedelta(hours=partner.approve_within_hours)).isoformat(),
                    code=Approval.make_code(approval_id),
                )
                placement.held.append((approval, delivery))
            case Gate.AUTO:
                due = (
                    plan.due
                    if skips_quiet_hours(policy, urgent)
                    else after_quiet_hours(plan.due, policy.quiet_hours)
                )
                to_schedule[(delivery.item_id, delivery.platform)].append((plan, due))
    for key, group in to_schedule.items():
        group.sort(key=lambda pair: pair[1])
        gap = max(policies[plan.network].min_gap_seconds for plan, _ in group)
        after = (last_due or {}).get(key)
        for (plan, _), due in zip(group, staggered([due for _, due in group], gap, after), strict=True):
            placement.scheduled.append((plan.delivery, due))
    return placement


def released(
    deliveries: Iterable[tuple[Delivery, str]],
    policy: AmplificationPolicy,
    *,
    urgent: bool,
    now: datetime,
    last_due: Mapping[tuple[str, str], datetime] | None = None,
) -> list[tuple[Delivery, datetime]]:
    """When an approved approval's held amplifications go out: now, outside quiet hours, keeping the gap."""
    planned = [Planned(delivery, network, now) for delivery, network in deliveries]
    # Approval is already given, so the gate is not asked again: place them as `auto`.
    granted = policy.model_copy(update={"mode": PolicyMode.AUTO, "partners": {}})
    placement = place(
        planned,
        {plan.network: granted for plan in planned},
        urgent=urgent,
        now=now,
        last_due=last_due,
    )
    return placement.scheduled


class Gatekeeper:
    """Carries out `place` for the amplify service: holds what needs approval, and says what to schedule.

    The holds are written before the amplify service's own transaction; they are idempotent (a
    redelivered result holds the same delivery again), so a crash in between loses nothing.
    """

    def __init__(self, runtime: Runtime, approvals: Approvals) -> None:
        self.runtime = runtime
        self.approvals = approvals
        self.requested: list[Approval] = []  # approvals created by the last `admit`, to ask about

    def policies(self) -> dict[str, AmplificationPolicy]:
        return {name: network.policy for name, network in self.runtime.network.file.networks.items()}

    async def last_due(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        async with self.runtime.redis.pipeline(transaction=False) as pipe:
            for item, platform in wanted:
                pipe.zscore(self.runtime.keys.amplification_last_due(item, platform), "due")
            values = await pipe.execute()
        return {
            key: datetime.fromtimestamp(float(value) / 1000, UTC)
            for key, value in zip(wanted, values, strict=True)
            if value is not None
        }

    async def admit(self, planned: list[Planned], *, urgent: bool, now: datetime) -> Placement:
        """Holds what waits for approval; the placement's `scheduled` also gets what an earlier
        approval already allows, and `held` keeps only what is waiting now."""
        self.requested = []
        if not planned:
            return Placement()
        last = await self.last_due((p.delivery.item_id, p.delivery.platform) for p in planned)
        placement = place(planned, self.policies(), urgent=urgent, now=now, last_due=last)
        scheduled = list(placement.scheduled)
        waiting: list[tuple[Approval, Delivery]] = []
        for approval, delivery in placement.held:
            member = Schedule.member(self.runtime.keys.deliveries(delivery.platform), delivery)
            outcome = await self.approvals.hold(approval, delivery.id, delivery.platform, member)
            match outcome:
                case HoldOutcome.CREATED:
                    self.requested.append(approval)
                    waiting.append((approval, delivery))
                case HoldOutcome.HELD:
                    waiting.append((approval, delivery))
                case HoldOutcome.APPROVED:
                    policy = self.policies()[approval.network]
                    scheduled.extend(
                        released(
                            [(delivery, approval.network)], policy, urgent=urgent, now=now, last_due=last
                        )
                    )
                case HoldOutcome.CLOSED:
                    placement.refused.append((delivery, f"the approval {approval.id} was already closed"))
        return Placement(scheduled, waiting, placement.refused, placement.intents)

    def remember(self, pipe: Any, scheduled: list[tuple[Delivery, datetime]]) -> None:
        """Inside the caller's transaction: the latest due per item and platform, for later gaps."""
        latest: dict[tuple[str, str], datetime] = {}
        for delivery, due in scheduled:
            key = (delivery.item_id, delivery.platform)
            latest[key] = max(due, latest.get(key, due))
        for (item, platform), due in latest.items():
            # GT: never move it back; kept a week, longer than any approval waits.
            pipe.zadd(
                self.runtime.keys.amplification_last_due(item, platform), {"due": epoch_ms(due)}, gt=True
            )
            pipe.expire(self.runtime.keys.amplification_last_due(item, platform), 7 * 24 * 3600)
