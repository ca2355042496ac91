"""The demo network is the neutral agencies and networks plus what each registered fake lends."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from aiohttp import web

from adapters import load_adapters
from sandbox import DemoAccounts, Fake, load_fakes
from services.config import parse_network
from services.demo.network import demo_document, neutral_document

SANDBOX = "http://127.0.0.1:9"


def test_every_fake_lends_its_accounts_and_verbs_to_the_demo() -> None:
    adapters, fakes = load_adapters(), load_fakes()
    network = parse_network(
        demo_document(neutral_document(), fakes, adapters, SANDBOX), adapters, environ={"SANDBOX_HOST": "h:1"}
    )
    for platform, fake in fakes.items():
        assert fake.demo is not None, f"the {platform} fake lends the demo no account"
        owners = {agency for agency, owned in network.accounts if owned == platform}
        assert owners == set(fake.demo.accounts)
        assert network.file.platforms[platform].api_base == f"{SANDBOX}/{platform}"
        for name, verb in fake.demo.amplify.items():
            assert network.file.networks[name].amplify[platform] == verb
    # The neutral file names no platform: every account and verb came from a fake.
    assert all("accounts" not in agency for agency in neutral_document()["agencies"].values())


class _Stray(Fake):
    platform: ClassVar[str] = "x"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(accounts={"nobody": {}})

    def routes(self) -> list[web.RouteDef]:
        return []

    def error_response(self, status: int, message: str) -> web.Response:
        return web.Response(status=status)

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        return web.Response(status=429)


def test_an_account_for_an_agency_the_demo_lacks_is_refused() -> None:
    fakes: dict[str, Any] = {"x": _Stray}
    with pytest.raises(ValueError, match="'nobody', not a demo agency"):
        demo_document(neutral_document(), fakes, load_adapters(), SANDBOX)
