"""The contract suite runs for every registered adapter: `platform` is parametrized over the
registry, unless a test class names its own `platforms` (a made-up platform it registers itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters import Adapter, load_adapters
from sandbox import RunningSandbox
from tests.contract.case import PlatformCase, find_case


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "platform" in metafunc.fixturenames:
        platforms = getattr(metafunc.cls, "platforms", None) or sorted(load_adapters())
        metafunc.parametrize("platform", platforms)


@pytest.fixture
def case(platform: str) -> PlatformCase:
    return find_case(platform)


@pytest.fixture
async def adapter(platform: str, case: PlatformCase, sandbox: RunningSandbox) -> AsyncIterator[Adapter[Any]]:
    adapters = load_adapters()
    if platform not in adapters:
        pytest.fail(f"no adapter is registered for {platform!r}", pytrace=False)
    if platform not in sandbox.sandbox.fakes:
        pytest.fail(
            f"the registered adapter {platform!r} has no sandbox fake: add sandbox/{platform}.py with a "
            "`@register_fake` class for it",
            pytrace=False,
        )
    # A fake serves the platform's public pages (where it has any) at its own mount point.
    web_base = sandbox.api_base(platform) if adapters[platform].default_web_base else None
    instance = adapters[platform](api_base=sandbox.api_base(platform), timeout_seconds=3, web_base=web_base)
    case.tune(instance)
    yield instance
    await instance.aclose()


@pytest.fixture
def accounts(adapter: Adapter[Any], case: PlatformCase) -> tuple[Any, Any]:
    first, second = (adapter.parse_credentials(dict(raw)) for raw in case.accounts)
    return first, second


@pytest.fixture
def secrets(adapter: Adapter[Any], case: PlatformCase) -> tuple[str, ...]:
    found = tuple(str(raw[name]) for raw in case.accounts for name in adapter.secret_fields if raw.get(name))
    assert found, f"{adapter.platform}: the accounts carry no value of `secret_fields`"
    return found
