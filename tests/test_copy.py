"""`copy` amplification: distinct attributed wording (pure), the network file's `copy_template`, and
the whole loop on Eitaa and Rubika through real Redis and the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters import load_adapters
from sandbox import Fault, RunningSandbox
from schemas.network import DEFAULT_COPY_TEMPLATE
from services.app import build_runtime
from services.config import ConfigError, parse_network
from services.ops.status import dead_letters, item_deliveries
from services.pipeline.copy_text import CopyRequest, distinct_copies, fit_copy, render_copy
from services.reach.collect import Reach
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_idle, xadd_fields

ORIGINAL = "طرح ترافیکی نیمه شعبان\n\n#نیمه_شعبان"
URL = "https://eitaa.com/ostandari_qom/7"


def request(
    partner: str, name: str, template: str = DEFAULT_COPY_TEMPLATE, text: str = ORIGINAL
) -> CopyRequest:
    return CopyRequest(
        partner=partner,
        template=template,
        text=text,
        origin="استانداری قم",
        partner_name=name,
        origin_url=URL,
    )


def wordings(template: str, names: list[tuple[str, str]]) -> list[str]:
    return [
        render_copy(r, signature=s)
        for r, s in distinct_copies(ORIGINAL, [request(p, n, template) for p, n in names])
    ]


def test_the_default_wording_attributes_and_partners_sign_when_copies_would_be_equal() -> None:
    texts = wordings(DEFAULT_COPY_TEMPLATE, [("qom-city", "شهرداری قم"), ("qom-rcs", "هلال‌احمر قم")])
    assert texts[0] == f"{ORIGINAL}\n\nبه نقل از استانداری قم: {URL}\n\nشهرداری قم"
    assert texts[1].endswith("\n\nهلال‌احمر قم")
    assert len({ORIGINAL, *texts}) == 3


def test_a_lone_copy_or_a_template_naming_the_partner_needs_no_signature() -> None:
    assert wordings(DEFAULT_COPY_TEMPLATE, [("qom-city", "شهرداری قم")]) == [
        f"{ORIGINAL}\n\nبه نقل از استانداری قم: {URL}"
    ]
    texts = wordings("{partner} بازنشر می‌کند:\n{text}", [("a", "الف"), ("b", "ب")])
    assert texts == [f"الف بازنشر می‌کند:\n{ORIGINAL}", f"ب بازنشر می‌کند:\n{ORIGINAL}"]


def test_a_template_equal_to_the_original_and_partners_sharing_a_name_still_differ() -> None:
    texts = wordings("{text}", [("a", "روابط عمومی"), ("b", "روابط عمومی")])
    assert texts == [f"{ORIGINAL}\n\nروابط عمومی (a)", f"{ORIGINAL}\n\nروابط عمومی (b)"]


def test_a_long_item_is_cut_but_its_attribution_stays() -> None:
    long = request("qom-city", "شهرداری قم", text="کلمه " * 400)
    fitted = fit_copy(long, "", len, 1024)
    assert fitted is not None and len(fitted) <= 1024
    assert fitted.endswith(f"…\n\nبه نقل از استانداری قم: {URL}")
    assert fit_copy(request("a", "ب", text="x"), "", len, 10) is None  # not even the attribution fits


def network_document(sandbox: RunningSandbox, **network: Any) -> dict[str, Any]:
    def accounts(slug: str, guid: str) -> dict[str, Any]:
        return {
            "eitaa": {"token": f"eitaa-{slug}-SECRET-token", "chat_id": f"@{slug.replace('-', '_')}"},
            "rubika": {"bot_token": f"RUBIKA{slug.replace('-', '')}SECRETtoken", "chat_id": guid},
        }

    base = {name: sandbox.api_base(name) for name in ("eitaa", "rubika")}
    return {
        "platforms": {
            "eitaa": {"api_base": base["eitaa"], "web_base": base["eitaa"]},
            "rubika": {"api_base": base["rubika"]},
        },
        "agencies": {
            "ostandari-qom": {
                "name": "استانداری قم",
                "accounts": accounts("ostandari-qom", "c0QomGov0000001"),
            },
            "qom-city": {"name": "شهرداری قم", "accounts": accounts("qom-city", "c0QomCity000002")},
            "qom-rcs": {
                "name": "جمعیت هلال‌احمر استان قم",
                "accounts": accounts("qom-rcs", "c0QomRcs0000003"),
            },
        },
        "networks": {
            "qom-pilgrims": {
                "members": ["ostandari-qom", "qom-city", "qom-rcs"],
                "amplify": {"rubika": "forward", "eitaa": "copy"},
                "delay_seconds": [0, 0.2],
                **network,
            }
        },
    }


def test_an_unknown_field_in_copy_template_is_a_config_error_naming_the_key(sandbox: RunningSandbox) -> None:
    document = network_document(sandbox, copy_template="{text} — {agency}")
    with pytest.raises(ConfigError) as caught:
        parse_network(document, load_adapters())
    assert "networks.qom-pilgrims.copy_template: unknown field {agency}" in str(caught.value)
    with pytest.raises(ConfigError, match="copy_template: not a template"):
        parse_network(network_document(sandbox, copy_template="{text"), load_adapters())
    parse_network(
        network_document(sandbox, copy_template="{partner}: {text} ({origin} {origin_url})"), load_adapters()
    )


@pytest.fixture
async def runtime(
    sandbox: RunningSandbox, redis_url: str, prefix: str, redis: Redis
) -> AsyncIterator[Runtime]:
    network = parse_network(network_document(sandbox), load_adapters())
    settings = Settings(
        prefix=prefix, scheduler_interval_seconds=0.05, backoff_base_seconds=0.05, max_attempts=3
    )
    built = build_runtime(network, redis_url, settings)
    yield built
    await built.aclose()


async def test_partners_forward_on_rubika_and_copy_with_distinct_wording_on_eitaa(
    sandbox: RunningSandbox, runtime: Runtime, redis: Redis
) -> None:
    item = {
        "id": "qom-1",
        "agency": "ostandari-qom",
        "text": "طرح ترافیکی نیمه شعبان",
        "tags": ["نیمه شعبان"],
    }
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers)
    states = {
        (s.agency, s.platform, s.action): s.state for s in await item_deliveries(redis, runtime.keys, "qom-1")
    }
    assert set(states.values()) == {"posted"} and len(states) == 6
    rubika = sandbox.sandbox.posts_on("rubika")
    assert sorted(post.action for post in rubika) == ["forward", "forward", "publish"]
    assert all(post.source_chat == "c0QomGov0000001" for post in rubika if post.action == "forward")
    eitaa = {post.chat: post.text for post in sandbox.sandbox.posts_on("eitaa")}
    original = eitaa.pop("ostandari_qom")
    assert original == "طرح ترافیکی نیمه شعبان\n\n#نیمه_شعبان"
    origin_url = f"{sandbox.api_base('eitaa')}/ostandari_qom/1"
    assert eitaa == {
        "qom_city": f"{original}\n\nبه نقل از استانداری قم: {origin_url}\n\nشهرداری قم",
        "qom_rcs": f"{original}\n\nبه نقل از استانداری قم: {origin_url}\n\nجمعیت هلال‌احمر استان قم",
    }

    snapshots = await Reach(runtime).poll(every_post=True)
    fake: Any = sandbox.sandbox.fakes["eitaa"]
    shown = {
        (chat, str(message.message_id)): message.views
        for chat, messages in fake.channels.items()
        for message in messages
    }
    eitaa_views = {(s.agency, s.action): s.views for s in snapshots if s.platform == "eitaa"}
    assert eitaa_views == {
        ("ostandari-qom", "publish"): shown[("ostandari_qom", "1")],
        ("qom-city", "copy"): shown[("qom_city", "1")],
        ("qom-rcs", "copy"): shown[("qom_rcs", "1")],
    }
    assert all(
        s.audience == fake.members[s.account.split("@")[1]] for s in snapshots if s.platform == "eitaa"
    )


async def test_an_unanswered_eitaa_send_is_found_on_the_public_page_not_unconfirmed(
    sandbox: RunningSandbox, runtime: Runtime, redis: Redis
) -> None:
    sandbox.sandbox.add_fault("eitaa", Fault(kind="drop", path="/sendMessage"))
    item = {
        "id": "qom-2",
        "agency": "ostandari-qom",
        "text": "اطلاعیه",
        "platforms": ["eitaa"],
        "amplify": False,
    }
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields(item))
        await wait_idle(workers)
    (status,) = await item_deliveries(redis, runtime.keys, "qom-2")
    assert status.state == "posted" and status.url == f"{sandbox.api_base('eitaa')}/ostandari_qom/1"
    assert len(sandbox.sandbox.posts_on("eitaa")) == 1
    assert await dead_letters(redis, runtime.keys) == []
