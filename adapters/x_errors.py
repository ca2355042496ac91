"""Turning what tweepy and aiohttp raise on X calls into the adapters' typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from tweepy import (
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    TooManyRequests,
    TwitterServerError,
    Unauthorized,
)

from adapters.base import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)

DEFAULT_RATE_WINDOW = timedelta(minutes=15)
# 403s that mean the app or token lacks a permission: a person fixes those, as with a 401.
PERMISSION_PROBLEMS = ("/oauth1-permissions", "/client-forbidden", "/unsupported-authentication")


class DuplicateContent(PermanentError):
    """X refused identical text from the same account: our earlier attempt probably went out."""


class AlreadyRetweeted(PermanentError):
    """X refused a second retweet of the same tweet: our earlier attempt went out."""


async def translate(error: Exception, write: bool = True) -> DeliveryError | None:
    """The typed error for what tweepy or aiohttp raised; None for anything that is not a platform call.

    `write` says whether the request could have changed something on X: a lost response to a write is
    ambiguous, a lost response to a read merely retryable. Messages quote X's own explanation and the
    status, never the request, so no credential reaches them.
    """
    if isinstance(error, HTTPException):
        return await _translate_http(error)
    if isinstance(error, aiohttp.ContentTypeError):
        return _translate_unparsable(error, write)
    if isinstance(error, aiohttp.ClientConnectorError):
        return RetryableError(f"could not connect to X at {error.host}:{error.port}; nothing was sent")
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return RetryableError("timed out connecting to X; nothing was sent")
    if isinstance(error, aiohttp.InvalidURL):
        return RetryableError("the X API address is not a valid URL; nothing was sent")
    if isinstance(error, TimeoutError | aiohttp.ClientError):
        what = f"{type(error).__name__} after the request was sent"
        if write:
            return AmbiguousError(f"X may or may not have carried out the request ({what})")
        return RetryableError(f"reading from X failed ({what})")
    return None


async def _translate_http(error: HTTPException) -> DeliveryError:
    status = error.response.status
    detail = "; ".join(str(message) for message in error.api_messages) or str(error.response.reason)
    said = f"X answered {status}: {detail}"
    if isinstance(error, TooManyRequests):
        return RateLimitedError(said, reset_at=_reset_at(error.response.headers))
    if isinstance(error, Unauthorized):
        return AuthError(f"{said} (renew the account's tokens)")
    if isinstance(error, Forbidden):
        if any("duplicate content" in str(message) for message in error.api_messages):
            return DuplicateContent(said)
        if any("already retweeted" in str(message) for message in error.api_messages):
            return AlreadyRetweeted(said)
        problem_type = str((await _problem_body(error)).get("type", ""))
        if problem_type.endswith(PERMISSION_PROBLEMS):
            return AuthError(f"{said} (give the X app read and write permission, then renew the tokens)")
        return PermanentError(said)
    if isinstance(error, TwitterServerError):
        return RetryableError(said)
    if isinstance(error, BadRequest | NotFound):
        return PermanentError(said)
    return RetryableError(said) if status >= 500 else PermanentError(said)


def _translate_unparsable(error: aiohttp.ContentTypeError, write: bool) -> DeliveryError:
    """A response that is not JSON: a proxy's error page, or a success X garbled."""
    said = f"X answered {error.status} with a body that is not JSON"
    if 200 <= error.status < 300:
        return AmbiguousError(said) if write else RetryableError(said)
    if error.status == 401:
        return AuthError(said)
    if error.status == 429:
        return RateLimitedError(said, reset_at=datetime.now(UTC) + DEFAULT_RATE_WINDOW)
    if error.status >= 500:
        return RetryableError(said)
    return PermanentError(said)


async def _problem_body(error: HTTPException) -> dict[str, Any]:
    # tweepy keeps only `errors[]` and `detail`; the problem type survives in neither, so reread it.
    try:
        parsed = await error.response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _reset_at(headers: Any) -> datetime:
    """When the account may post again: the latest reset among the windows X says are exhausted."""
    now = datetime.now(UTC)
    resets = [_epoch(headers.get("x-rate-limit-reset"))]
    for window in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if headers.get(f"{window}-remaining") == "0":
            resets.append(_epoch(headers.get(f"{window}-reset")))
    known = [reset for reset in resets if reset is not None]
    if not known:
        return now + DEFAULT_RATE_WINDOW
    return max(*known, now)


def _epoch(value: str | None) -> datetime | None:
    if value is None or not value.strip().isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)
