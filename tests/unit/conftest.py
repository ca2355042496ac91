"""Unit tests: pure logic only. They run without Redis, the sandbox or the network; asking for any of
those fixtures here is an error, so a test that needs I/O belongs one folder up (integration)."""

from __future__ import annotations

import pytest

NO_IO = ("redis_url", "redis", "sandbox")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/" in item.nodeid:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _no_io(request: pytest.FixtureRequest) -> None:
    used = [name for name in NO_IO if name in request.fixturenames]
    if used:
        pytest.fail(f"a unit test may not use {', '.join(used)}: move it out of tests/unit/")
