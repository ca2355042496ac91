"""Approval in the partner's own messenger, over real HTTP against the sandbox's Telegram fake:
the request with two buttons goes to the approver's chat with the partner's bot, and a press that
arrives on that bot's `getUpdates` decides — only from the approver's chat, only once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import RunningSandbox
from sandbox.telegram import TelegramFake
from services.app import build_runtime
from services.config import parse_network
from services.ops.status import item_deliveries
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, xadd_fields
from tests.support.sandbox_network import bot_token

AGENCIES = {
    "khz-roads": ("اداره کل راه و شهرسازی خوزستان", "1101", "@khz_roads_ap"),
    "khz-rail": ("راه‌آهن جنوب", "1102", "@khz_rail_ap"),
    "khz-ports": ("بنادر و دریانوردی خوزستان", "1103", "@khz_ports_ap"),
}
APPROVER_CHAT = "555000111"


def document(sandbox: RunningSandbox) -> dict[str, Any]:
    return {
        "platforms": {"telegram": {"api_base": sandbox.api_base("telegram")}},
        "agencies": {
            name: {
                "name": title,
                "accounts": {"telegram": {"bot_token": bot_token(AGENCIES, name), "chat_id": chat}},
            }
            for name, (title, _, chat) in AGENCIES.items()
        },
        "networks": {
            "khz-transport": {
                "members": list(AGENCIES),
                "amplify": {"telegram": "forward"},
                "delay_seconds": [0, 0.1],
                "policy": {
                    "mode": "auto",
                    "partners": {
                        "khz-ports": {
                            "mode": "approve",
                            "approver": {"platform": "telegram", "chat_id": APPROVER_CHAT},
                        }
                    },
                },
            }
        },
    }


@pytest.fixture
async def runtime(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> AsyncIterator[Runtime]:
    network = parse_network(document(sandbox), load_adapters())
    settings = Settings(prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05)
    yield build_runtime(network, redis_url, settings)


def fake(sandbox: RunningSandbox) -> TelegramFake:
    found = sandbox.sandbox.fakes["telegram"]
    assert isinstance(found, TelegramFake)
    return found


def published(sandbox: RunningSandbox) -> list[tuple[str, str]]:
    posts = sandbox.sandbox.posts_on("telegram")
    return sorted((post.account, post.action) for post in posts if post.action != "message")


async def press(sandbox: RunningSandbox, data: str, **extra: Any) -> None:
    [message_id] = list(fake(sandbox).messages[int(APPROVER_CHAT)])
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{sandbox.api_base('telegram')}/_press",
            json={"chat_id": APPROVER_CHAT, "message_id": message_id, "data": data, **extra},
        )
    assert answer.status_code == 200


def request_buttons(sandbox: RunningSandbox) -> list[str]:
    [message] = fake(sandbox).messages[int(APPROVER_CHAT)].values()
    return [button["callback_data"] for button in message["reply_markup"]["inline_keyboard"][0]]


async def test_nothing_of_the_partner_is_posted_until_its_approver_presses_then_once(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    ports_bot = AGENCIES["khz-ports"][1]
    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler", "watch"]):
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "ap-1", "agency": "khz-roads", "text": "آغاز هفته حمل‌ونقل"}),
        )

        async def asked() -> bool:
            return int(APPROVER_CHAT) in fake(sandbox).messages

        await wait_for(asked, what="the approval request in the approver's chat")
        [request] = [p for p in sandbox.sandbox.posts_on("telegram") if p.action == "message"]
        assert request.account == ports_bot  # sent with the partner's own bot
        assert "بنادر و دریانوردی خوزستان" in request.text and "تأیید" in request.text
        approve, decline = request_buttons(sandbox)
        assert approve.startswith("hz:ok:") and decline.startswith("hz:no:")

        async def rail_forwarded() -> bool:
            return ("1102", "forward") in published(sandbox)

        await wait_for(rail_forwarded, what="the auto partner's forward")
        assert ("1103", "forward") not in published(sandbox)  # held

        # A press claiming another chat decides nothing, and is told so.
        await press(sandbox, approve, as_chat_id="999")

        async def answered(count: int) -> bool:
            return len(fake(sandbox).answers) >= count

        await wait_for(lambda: answered(1), what="the refusal's acknowledgement")
        assert "اجازه" in fake(sandbox).answers[0]["text"]
        statuses = {s.agency: s.state for s in await item_deliveries(redis, runtime.keys, "ap-1")}
        assert statuses["khz-ports"] == "awaiting_approval"

        # The approver presses twice: one decision, one forward.
        await press(sandbox, approve, user_id="42")
        await press(sandbox, approve, user_id="42")
        await wait_for(lambda: answered(3), what="both presses acknowledged")

        async def ports_forwarded() -> bool:
            return ("1103", "forward") in published(sandbox)

        await wait_for(ports_forwarded, what="the approved forward")
        texts = [a["text"] for a in fake(sandbox).answers[1:]]
        assert any("تأیید شد" in t for t in texts) and any("پیش‌تر" in t for t in texts)
        ports = next(s for s in await item_deliveries(redis, runtime.keys, "ap-1") if s.agency == "khz-ports")
        assert ports.state == "posted"
    assert published(sandbox).count(("1103", "forward")) == 1
    assert fake(sandbox).answers[0]["bot"] == ports_bot


async def test_a_decline_in_the_messenger_posts_nothing_for_that_partner(
    runtime: Runtime, redis: Redis, sandbox: RunningSandbox
) -> None:
    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler", "watch"]):
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "ap-2", "agency": "khz-roads", "text": "خبر دوم"})
        )

        async def asked() -> bool:
            return int(APPROVER_CHAT) in fake(sandbox).messages

        await wait_for(asked, what="the approval request")
        _, decline = request_buttons(sandbox)
        await press(sandbox, decline, user_id="42")

        async def declined() -> bool:
            statuses = {s.agency: s for s in await item_deliveries(redis, runtime.keys, "ap-2")}
            return statuses["khz-ports"].state == "declined"

        await wait_for(declined, what="the decline")
        ports = next(s for s in await item_deliveries(redis, runtime.keys, "ap-2") if s.agency == "khz-ports")
        assert ports.decided_by == "telegram:42" and ports.decided_at
    assert ("1103", "forward") not in published(sandbox)


# --- Rubika: a keypad under the request; the press comes back as a message with its button id ----

RUBIKA = {
    "khz-roads": "c0RoadsApprovals01",
    "khz-rail": "c0RailApprovals02",
    "khz-ports": "c0PortsApprovals03",
}
RUBIKA_APPROVER = "u0PortsApprover0001"


async def test_on_rubika_the_partner_is_held_until_its_approver_presses_the_keypad(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    from sandbox.rubika import RubikaFake

    doc: dict[str, Any] = {
        "platforms": {"rubika": {"api_base": sandbox.api_base("rubika")}},
        "agencies": {
            name: {
                "name": AGENCIES[name][0],
                "accounts": {"rubika": {"bot_token": f"RUBIKAAPPROVE{i}TOKEN00000000", "chat_id": chat}},
            }
            for i, (name, chat) in enumerate(RUBIKA.items())
        },
        "networks": {
            "khz-transport": {
                "members": list(RUBIKA),
                "amplify": {"rubika": "forward"},
                "delay_seconds": [0, 0.1],
                "policy": {
                    "partners": {
                        "khz-ports": {
                            "mode": "approve",
                            "approver": {"platform": "rubika", "chat_id": RUBIKA_APPROVER},
                        }
                    }
                },
            }
        },
    }
    network = parse_network(doc, load_adapters())
    runtime = build_runtime(
        network, redis_url, Settings(prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05)
    )
    runtime.adapters["rubika"].poll_interval_seconds = 0.2  # type: ignore[misc]
    fake = sandbox.sandbox.fakes["rubika"]
    assert isinstance(fake, RubikaFake)

    def forwards() -> list[str]:
        return [p.chat or "" for p in sandbox.sandbox.posts_on("rubika") if p.action == "forward"]

    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler", "watch"]):

        async def watching() -> bool:
            return len([k async for k in redis.scan_iter(match=f"{prefix}:updates:rubika:*:offset")]) == 3

        await wait_for(watching, what="the bots' first look at their updates")
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "rb-1", "agency": "khz-roads", "text": "خبر روبیکا"})
        )

        async def asked() -> bool:
            return any(chat == RUBIKA_APPROVER for chat, _ in fake.senders)

        await wait_for(asked, what="the keypad request to the approver")
        [(chat, message_id)] = [key for key in fake.senders if key[0] == RUBIKA_APPROVER]
        keypad = fake.messages[(chat, message_id)]["inline_keypad"]
        approve = keypad["rows"][0]["buttons"][0]["id"]
        assert approve.startswith("hz:ok:")

        async def rail_forwarded() -> bool:
            return RUBIKA["khz-rail"] in forwards()

        await wait_for(rail_forwarded, what="the auto partner's forward")
        assert RUBIKA["khz-ports"] not in forwards()
        async with httpx.AsyncClient() as http:
            # From another chat: nothing; then from the approver's chat: the forward, once.
            for extra in ({"as_chat_id": "u0Stranger000001"}, {}, {}):
                await http.post(
                    f"{sandbox.api_base('rubika')}/_press",
                    json={"chat_id": chat, "message_id": message_id, "button_id": approve, **extra},
                )

        async def ports_forwarded() -> bool:
            return RUBIKA["khz-ports"] in forwards()

        await wait_for(ports_forwarded, what="the approved forward")
        ports = next(s for s in await item_deliveries(redis, runtime.keys, "rb-1") if s.agency == "khz-ports")
        assert ports.state == "posted"
    assert forwards().count(RUBIKA["khz-ports"]) == 1
    answers = [
        p.text
        for p in sandbox.sandbox.posts_on("rubika")
        if p.action == "message" and p.chat != RUBIKA_APPROVER
    ]
    assert any("اجازه" in text for text in answers)  # the stranger was told it may not decide


# --- X intents: a link for the partner's approver to repost by hand; nothing automated on X -------


async def test_an_x_intent_sends_the_approver_the_repost_link_and_posts_nothing_on_x(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> None:
    from tests.support.sandbox_network import x_telegram_network

    doc = x_telegram_network(sandbox, AGENCIES, list(AGENCIES), (0, 0.1))
    network_doc = doc["networks"]["khz-transport"]
    network_doc["amplify"] = {"x": "intent"}
    network_doc["policy"] = {
        "partners": {
            partner: {"approver": {"platform": "telegram", "chat_id": APPROVER_CHAT}}
            for partner in ("khz-rail", "khz-ports")
        }
    }
    doc["networks"]["khz-transport"]["policy"]["partners"]["khz-roads"] = {
        "approver": {"platform": "telegram", "chat_id": "555000999"}
    }
    runtime = build_runtime(
        parse_network(doc, load_adapters()),
        redis_url,
        Settings(prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05),
    )
    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler"]):
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "in-1", "agency": "khz-roads", "text": "آغاز هفته", "platforms": ["x"]}),
        )

        async def requested() -> bool:
            statuses = await item_deliveries(redis, runtime.keys, "in-1")
            return sum(s.state == "requested" for s in statuses) == 2

        await wait_for(requested, what="two intents requested")
        statuses = await item_deliveries(redis, runtime.keys, "in-1")
    [own] = [s for s in statuses if s.action == "publish"]
    intents = [s for s in statuses if s.action == "intent"]
    assert {s.url for s in intents} == {f"https://x.com/intent/retweet?tweet_id={own.post_id}"}
    # Nothing but the own post happened on X: no repost, no like.
    assert [p.action for p in sandbox.sandbox.posts_on("x")] == ["publish"]
    messages = [p for p in sandbox.sandbox.posts_on("telegram") if p.action == "message"]
    assert sorted(p.account for p in messages) == ["1102", "1103"]  # each partner's own bot
    assert all(f"tweet_id={own.post_id}" in p.text and "خودتان" in p.text for p in messages)
