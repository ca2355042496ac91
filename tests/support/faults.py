"""One table of platform faults and the typed error each must become, and the strict no-secret
check, shared by the adapter contract suite (tests/contract/) and the platforms' own tests."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from adapters import AuthError, DeliveryError, PermanentError, RateLimitedError, RetryableError
from sandbox import Fault


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
    """Neither the error, nor anything chained to it (`__cause__`, `__context__`), nor the traceback
    a log line would print for it shows a secret."""
    assert isinstance(error, DeliveryError)
    assert secrets, "no secret to look for: the check would pass whatever the error shows"
    # What a log line prints for it, less the source lines of the code (literals of a test, not values).
    printed = "\n".join(
        line
        for line in "".join(traceback.format_exception(error)).splitlines()
        if not line.startswith("    ")
    )
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        shown = f"{error!s} {error!r} {error.args!r}"
        for secret in secrets:
            assert secret not in shown, f"{type(error).__name__} shows a secret"
        error = error.__cause__ or error.__context__
    for secret in secrets:
        assert secret not in printed, "the traceback shows a secret"
