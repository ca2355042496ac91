"""The adapter contract, run for every adapter in the registry (new platforms are picked up alone)."""

from __future__ import annotations

from tests.contract.suite import AdapterContract


class TestRegisteredAdapter(AdapterContract):
    pass
