"""The amplification policy's pure decisions: gates, quiet hours in Tehran time, caps and gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import AmplificationPolicy, PartnerPolicy, PolicyMode
from services.governance.policy import (
    TEHRAN,
    Gate,
    after_quiet_hours,
    gate,
    next_tehran_day,
    staggered,
    tehran_day,
    within_cap,
)

APPROVER = {"platform": "chat", "chat_id": "42"}


def policy(**fields: object) -> AmplificationPolicy:
    return AmplificationPolicy.model_validate(fields)


@pytest.mark.parametrize(
    ("network_mode", "partner_mode", "urgent", "urgent_rule", "expected"),
    [
        ("auto", None, False, "auto", Gate.AUTO),
        ("approve", None, False, "auto", Gate.APPROVE),
        ("approve", None, True, "auto", Gate.AUTO),
        ("approve", None, True, "policy", Gate.APPROVE),
        ("auto", "approve", False, "auto", Gate.APPROVE),
        ("approve", "auto", False, "auto", Gate.AUTO),
        ("auto", "off", True, "auto", Gate.OFF),
        ("off", None, False, "auto", Gate.OFF),
    ],
)
def test_each_partner_gets_its_own_mode_and_urgent_items_skip_approval_only_where_agreed(
    network_mode: str, partner_mode: str | None, urgent: bool, urgent_rule: str, expected: Gate
) -> None:
    partners = {}
    if partner_mode is not None:
        partners["ports"] = {
            "mode": partner_mode,
            **({"approver": APPROVER} if partner_mode == "approve" else {}),
        }
    fields: dict[str, object] = {"mode": network_mode, "partners": partners, "urgent": urgent_rule}
    chosen = policy(**fields)
    if network_mode == "approve" and partner_mode is None:
        # A network-wide approve still needs each partner's approver.
        chosen.partners["ports"] = PartnerPolicy(approver=APPROVER)  # type: ignore[arg-type]
    assert gate(chosen, "ports", urgent) is expected


def test_approve_without_an_approver_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="needs an approver"):
        PartnerPolicy(mode=PolicyMode.APPROVE)


def tehran(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TEHRAN)


@pytest.mark.parametrize(
    ("due", "window", "expected"),
    [
        (tehran(22, 59), ("23:00", "07:00"), tehran(22, 59)),
        (tehran(23, 0), ("23:00", "07:00"), tehran(7, 0, day=11)),
        (tehran(2, 30), ("23:00", "07:00"), tehran(7, 0)),
        (tehran(7, 0), ("23:00", "07:00"), tehran(7, 0)),
        (tehran(13, 0), ("12:00", "14:00"), tehran(14, 0)),
        (tehran(14, 0), ("12:00", "14:00"), tehran(14, 0)),
        (tehran(3, 0), None, tehran(3, 0)),
    ],
)
def test_quiet_hours_move_what_falls_inside_to_the_end_of_the_window(
    due: datetime, window: tuple[str, str] | None, expected: datetime
) -> None:
    moved = after_quiet_hours(due.astimezone(UTC), window)
    assert moved == expected
    assert moved.tzinfo is UTC


def test_quiet_hours_are_tehran_time_not_utc() -> None:
    # 20:00 UTC is 23:30 in Tehran: inside a 23:00–07:00 window.
    due = datetime(2026, 12, 10, 20, 0, tzinfo=UTC)
    assert after_quiet_hours(due, ("23:00", "07:00")) == datetime(2026, 12, 11, 3, 30, tzinfo=UTC)


def test_a_tehran_day_starts_at_2030_utc() -> None:
    just_before = datetime(2026, 12, 10, 20, 29, tzinfo=UTC)
    assert tehran_day(just_before).day == 10
    assert tehran_day(just_before + timedelta(minutes=1)).day == 11
    assert next_tehran_day(just_before) == datetime(2026, 12, 10, 20, 30, tzinfo=UTC)


def test_staggering_keeps_every_two_partners_apart_in_order() -> None:
    start = datetime(2026, 12, 10, 8, 0, tzinfo=UTC)
    dues = [start, start + timedelta(seconds=5), start + timedelta(seconds=100)]
    placed = staggered(dues, 30)
    assert placed == [start, start + timedelta(seconds=30), start + timedelta(seconds=100)]
    later = staggered([start], 30, after=start + timedelta(seconds=50))
    assert later == [start + timedelta(seconds=80)]
    assert staggered(dues, 0) == dues


def test_caps_count_up_to_and_not_past_the_limit() -> None:
    assert within_cap(19, 20)
    assert not within_cap(20, 20)
    assert within_cap(10_000, None)
    assert not within_cap(0, 0)


# --- placing a result's planned amplifications -----------------------------------------------------

from schemas import Action, Delivery  # noqa: E402
from services.governance.gatekeeper import Planned, place, released  # noqa: E402

NOW = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)  # 09:30 in Tehran


def amplification(partner: str, platform: str = "chat", item: str = "tw-1") -> Delivery:
    return Delivery(
        id=Delivery.make_id(item, partner, platform, Action.FORWARD),
        item_id=item,
        agency=partner,
        platform=platform,
        action=Action.FORWARD,
        origin_agency="roads",
    )


def test_auto_partners_are_scheduled_approving_ones_held_and_opted_out_ones_refused() -> None:
    chosen = policy(
        mode="auto",
        partners={
            "ports": {"mode": "approve", "approver": APPROVER, "approve_within_hours": 6},
            "rail": {"mode": "off"},
        },
    )
    planned = [
        Planned(amplification(p), "transport", NOW + timedelta(seconds=60))
        for p in ("ports", "rail", "water")
    ]
    placement = place(planned, {"transport": chosen}, urgent=False, now=NOW)
    assert [(d.agency, due) for d, due in placement.scheduled] == [("water", NOW + timedelta(seconds=60))]
    assert [(a.partner, a.approver_chat, d.agency) for a, d in placement.held] == [("ports", "42", "ports")]
    approval = placement.held[0][0]
    assert approval.id == "tw-1.ports"
    assert datetime.fromisoformat(approval.expires_at) == NOW + timedelta(hours=6)
    assert [d.agency for d, _ in placement.refused] == ["rail"]


def test_an_urgent_item_skips_approval_and_quiet_hours_only_under_urgent_auto() -> None:
    night = datetime(2026, 12, 10, 21, 0, tzinfo=UTC)  # 00:30 in Tehran
    fields = {
        "partners": {"ports": {"mode": "approve", "approver": APPROVER}},
        "quiet_hours": ("23:00", "07:00"),
    }
    planned = [Planned(amplification("ports"), "n", night)]
    urgent = place(planned, {"n": policy(**fields)}, urgent=True, now=night)
    assert urgent.scheduled == [(planned[0].delivery, night)] and not urgent.held
    by_policy = place(planned, {"n": policy(**fields, urgent="policy")}, urgent=True, now=night)
    assert not by_policy.scheduled and len(by_policy.held) == 1
    normal_auto = place(
        [Planned(amplification("water"), "n", night)], {"n": policy(**fields)}, urgent=False, now=night
    )
    assert normal_auto.scheduled[0][1] == datetime(2026, 12, 11, 3, 30, tzinfo=UTC)  # 07:00 Tehran


def test_partners_of_one_item_on_one_platform_are_kept_apart_after_what_is_already_scheduled() -> None:
    chosen = policy(min_gap_seconds=30)
    planned = [Planned(amplification(p), "n", NOW) for p in ("a", "b", "c")]
    planned.append(Planned(amplification("d", platform="other"), "n", NOW))
    earlier = {("tw-1", "chat"): NOW + timedelta(seconds=10)}
    placement = place(planned, {"n": chosen}, urgent=False, now=NOW, last_due=earlier)
    chat = sorted(due for d, due in placement.scheduled if d.platform == "chat")
    assert chat == [NOW + timedelta(seconds=s) for s in (40, 70, 100)]
    assert [due for d, due in placement.scheduled if d.platform == "other"] == [NOW]


def test_released_amplifications_go_out_now_outside_quiet_hours_with_the_gap() -> None:
    chosen = policy(partners={"ports": {"mode": "approve", "approver": APPROVER}}, min_gap_seconds=20)
    out = released(
        [(amplification("ports"), "n"), (amplification("ports", platform="other"), "n")],
        chosen,
        urgent=False,
        now=NOW,
        last_due={("tw-1", "chat"): NOW},
    )
    assert sorted((d.platform, due) for d, due in out) == [
        ("chat", NOW + timedelta(seconds=20)),
        ("other", NOW),
    ]


# --- the policy section of the network file -------------------------------------------------------

from typing import Any, ClassVar  # noqa: E402

from services.config import ConfigError, parse_network  # noqa: E402
from tests.support.memory_platform import MemoryPlatform  # noqa: E402


class AskingPlatform(MemoryPlatform):
    """A platform whose bots can send approval requests."""

    platform: ClassVar[str] = "asking"
    can_ask: ClassVar[bool] = True


def network_file(
    policy: dict[str, Any], ports_accounts: tuple[str, ...] = ("memory", "asking")
) -> dict[str, Any]:
    def accounts(names: tuple[str, ...]) -> dict[str, Any]:
        return {name: {"handle": "h"} for name in names}

    return {
        "agencies": {
            "roads": {"name": "راه", "accounts": accounts(("memory",))},
            "ports": {"name": "بنادر", "accounts": accounts(ports_accounts)},
            "rail": {"name": "راه‌آهن", "accounts": accounts(("memory",))},
        },
        "networks": {
            "n": {"members": ["roads", "ports", "rail"], "amplify": {"memory": "forward"}, "policy": policy}
        },
    }


REGISTRY = {"memory": MemoryPlatform, "asking": AskingPlatform}


def problems_of(document: dict[str, Any]) -> list[str]:
    try:
        parse_network(document, REGISTRY)
    except ConfigError as error:
        return error.problems
    return []


def test_a_good_policy_passes_check_config() -> None:
    good = {
        "mode": "auto",
        "partners": {"ports": {"mode": "approve", "approver": {"platform": "asking", "chat_id": 123456789}}},
        "daily_cap": 20,
        "quiet_hours": ["23:00", "07:00"],
        "min_gap_seconds": 30,
        "urgent": "auto",
    }
    assert problems_of(network_file(good)) == []
    parsed = parse_network(network_file(good), REGISTRY).file.networks["n"].policy
    assert parsed.for_partner("ports").approver is not None
    assert parsed.for_partner("ports").approver.chat_id == "123456789"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy_section", "accounts", "expected"),
    [
        (
            {"partners": {"water": {"mode": "off"}}},
            ("memory",),
            "networks.n.policy.partners.water: not a member",
        ),
        (
            {"partners": {"ports": {"mode": "approve", "approver": {"platform": "memory", "chat_id": "1"}}}},
            ("memory",),
            "approver.platform: 'memory' cannot send approval requests (these can: asking)",
        ),
        (
            {"partners": {"ports": {"mode": "approve", "approver": {"platform": "asking", "chat_id": "1"}}}},
            ("memory",),
            "ports has no asking account",
        ),
        ({"mode": "approve"}, ("memory",), "missing for: roads, ports, rail"),
        ({"quiet_hours": ["25:00", "07:00"]}, ("memory",), "quiet_hours"),
        ({"partners": {"ports": {"mode": "approve"}}}, ("memory",), "needs an approver"),
        ({"mode": "sometimes"}, ("memory",), "networks.n.policy.mode"),
        ({"daily_cap": -1}, ("memory",), "daily_cap"),
    ],
)
def test_policy_mistakes_name_the_bad_key(
    policy_section: dict[str, Any], accounts: tuple[str, ...], expected: str
) -> None:
    found = problems_of(network_file(policy_section, accounts))
    assert any(expected in problem for problem in found), found
