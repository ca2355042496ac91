"""Instagram Graph API error envelopes → Hamafza's typed errors, and when throttled access returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)

QUOTA_RECHECK = timedelta(hours=1)  # the quota is a moving 24 h window with no reset time given
DEFAULT_RATE_WINDOW = timedelta(minutes=15)
# Graph error codes: throttling (app, user, page, Instagram account) and the publishing limit.
THROTTLED = {4, 17, 32, 613, 80002}
AUTH_CODES = {10, 102, 190, 200}


def translate(status: int, error: dict[str, Any], headers: Any, write: bool) -> DeliveryError:
    """The typed error for a Graph API error envelope; it quotes Meta's message, never the token."""
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {status}")
    said = f"instagram answered {status} (code {code}{f'/{subcode}' if subcode else ''}): {message}"
    if code in THROTTLED or status == 429 or (code == 9 and subcode == 2207042):
        return RateLimitedError(said, reset_at=regain_access(headers, code == 9))
    if code in AUTH_CODES or status in {401, 403}:
        return AuthError(f"{said} (renew the long-lived token; it needs instagram_content_publish)")
    if status >= 500 or error.get("is_transient") or code in {1, 2}:
        return RetryableError(said)
    if status == 200:
        return AmbiguousError(said) if write else RetryableError(said)
    return PermanentError(said)


def regain_access(headers: Any, quota: bool) -> datetime:
    now = datetime.now(UTC)
    if quota:
        return now + QUOTA_RECHECK
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-App-Usage"):
        raw = headers.get(name) if headers is not None else None
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        for entries in usage.values() if isinstance(usage, dict) else []:
            for entry in entries if isinstance(entries, list) else []:
                value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                if isinstance(value, int | float):
                    minutes.append(float(value))
    return now + (timedelta(minutes=max(minutes)) if minutes and max(minutes) > 0 else DEFAULT_RATE_WINDOW)
