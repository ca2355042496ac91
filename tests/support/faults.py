"""One table of platform faults and the typed error each must become, shared by the adapter tests.

Each platform's test adds only what is its own (extra cases, the path a fault applies to, how its
429 states the reset).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters import AuthError, DeliveryError, PermanentError, RateLimitedError, RetryableError
from sandbox import Fault, RunningSandbox


def fault_table(
    *, path: str | None = None, reset_seconds: float = 30, extra: tuple[Any, ...] = ()
) -> list[Any]:
    """5xx → retryable, 401 → auth, 400 → permanent, 429 → rate-limited, then the platform's own cases."""
    return [
        pytest.param(Fault(kind="error", status=500, path=path), RetryableError, id="500"),
        pytest.param(Fault(kind="error", status=502, path=path), RetryableError, id="502"),
        pytest.param(Fault(kind="error", status=503, path=path), RetryableError, id="503"),
        pytest.param(Fault(kind="auth", path=path), AuthError, id="401"),
        pytest.param(Fault(kind="error", status=400, path=path), PermanentError, id="400"),
        pytest.param(
            Fault(kind="rate_limit", reset_seconds=reset_seconds, path=path), RateLimitedError, id="429"
        ),
        *extra,
    ]


def assert_no_secret(error: BaseException | None, *secrets: str) -> None:
    """Neither the error nor anything chained to it shows a secret."""
    assert isinstance(error, DeliveryError)
    while error is not None:
        shown = f"{error!s} {error!r} {error.args!r}"
        for secret in secrets:
            assert secret not in shown
        error = error.__cause__ or error.__context__


async def assert_fault_becomes(
    sandbox: RunningSandbox,
    platform: str,
    fault: Fault,
    expected: type[DeliveryError],
    call: Callable[[], Awaitable[Any]],
    *,
    secrets: tuple[str, ...],
    reset_after: timedelta,
) -> None:
    """Inject `fault`, make the call: exactly `expected`, no secret, nothing posted, the right reset."""
    sandbox.sandbox.add_fault(platform, fault)
    with pytest.raises(expected) as caught:
        await call()
    assert type(caught.value) is expected
    assert_no_secret(caught.value, *secrets)
    assert sandbox.sandbox.posts_on(platform) == []
    if isinstance(caught.value, RateLimitedError):
        expected_reset = datetime.now(UTC) + reset_after
        assert abs((caught.value.reset_at - expected_reset).total_seconds()) < 3
