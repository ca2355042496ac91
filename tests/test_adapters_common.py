"""What every registered adapter owes the services, whatever its platform: one table, all platforms.

Credentials come from the demo's network, to which every fake lends accounts.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from adapters import Adapter, RetryableError, load_adapters
from sandbox import load_fakes
from schemas import Action, Delivery, Media
from services.config import Account, parse_network
from services.demo.network import demo_document, neutral_document
from tests.support.faults import assert_no_secret

ADAPTERS = load_adapters()
DEMO = parse_network(
    demo_document(neutral_document(), load_fakes(), ADAPTERS, "http://127.0.0.1:9"),
    ADAPTERS,
    environ={"SANDBOX_HOST": "127.0.0.1:9"},
)


def some_account(platform: str) -> Account:
    return next(
        account for (_, owner_platform), account in DEMO.accounts.items() if owner_platform == platform
    )


def secrets_of(account: Account) -> tuple[str, ...]:
    raw: dict[str, Any] = account.credentials.model_dump()
    return tuple(str(raw[field]) for field in ADAPTERS[account.platform].secret_fields if raw.get(field))


def closed_port() -> int:
    with socket.socket() as probe:  # free a moment ago, closed now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demo_network_has_an_account_on_every_platform() -> None:
    assert {platform for _, platform in DEMO.accounts} == set(ADAPTERS)


@pytest.mark.parametrize("platform", sorted(ADAPTERS))
async def test_connection_refused_is_retryable_and_shows_no_secret(platform: str) -> None:
    account = some_account(platform)
    adapter: Adapter[Any] = ADAPTERS[platform](
        api_base=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2
    )
    delivery = Delivery(
        id=Delivery.make_id("refused", account.agency, platform, Action.PUBLISH),
        item_id="refused",
        agency=account.agency,
        platform=platform,
        action=Action.PUBLISH,
        origin_agency=account.agency,
        text="خبر",
        media=[Media(url="https://irna.ir/a.jpg")],
    )
    try:
        # Safe to send again later, and the message tells a person so.
        with pytest.raises(RetryableError, match="nothing was sent") as caught:
            await adapter.publish(account.credentials, delivery)
    finally:
        await adapter.aclose()
    assert_no_secret(caught.value, *secrets_of(account))


@pytest.mark.parametrize("platform", sorted(ADAPTERS))
def test_every_adapter_declares_its_names_for_people(platform: str) -> None:
    adapter = ADAPTERS[platform]
    assert adapter.name.isascii() and adapter.name.strip(), "an English `name` for English reports"
    assert adapter.title.strip() and not adapter.title.isascii(), "a Persian `title`"
    assert isinstance(adapter.short_form, bool)
    assert all(isinstance(name, str) and name for name in adapter.chatty_loggers)
