"""What one platform contributes to the adapter contract suite: a small table, nothing else.

Each registered platform has a module `tests/contract/platforms/<platform>.py` defining `CASE`. The
suite finds it by the adapter registry, so a registered adapter without one fails loudly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters import Adapter, DeliveryError
from sandbox import Fault, Sandbox, SandboxPost


@dataclass(frozen=True)
class PlatformCase:
    """Two accounts on the platform's sandbox fake and how to read what the fake recorded."""

    platform: str
    # Two accounts' credentials, as in a network file: the first publishes, the second amplifies.
    accounts: tuple[Mapping[str, Any], Mapping[str, Any]]
    # The path of the request that commits a post (faults and dropped answers are aimed at it);
    # None when the post is the only write the platform receives.
    commit_path: str | None = None
    # The platform's own faults beyond the shared table, with the typed error each must become.
    extra_faults: tuple[tuple[str, Fault, type[DeliveryError]], ...] = ()
    # Whether the platform's 429 says when to retry (else the adapter falls back on its own wait).
    rate_limit_states_reset: bool = True
    # What the fake recorded on this platform, in order (default: the sandbox's post record).
    records: Callable[[Sandbox, str], list[SandboxPost]] = field(
        default=lambda sandbox, platform: sandbox.posts_on(platform)
    )
    # Test-only settings of the adapter (shorter polling…).
    tune: Callable[[Adapter[Any]], None] = field(default=lambda adapter: None)


def find_case(platform: str) -> PlatformCase:
    module_name = f"tests.contract.platforms.{platform.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        pytest.fail(
            f"the registered adapter {platform!r} has no contract case: add {module_name.replace('.', '/')}.py "
            "with CASE = PlatformCase(...) (its two accounts on the sandbox fake)",
            pytrace=False,
        )
    case = getattr(module, "CASE", None)
    assert isinstance(case, PlatformCase) and case.platform == platform, (
        f"{module_name}.CASE is not {platform}'s"
    )
    return case
