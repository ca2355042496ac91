"""How the Bot-API family's error answers become Hamafza's typed errors, without the token.

`translate` reads the envelope (`error_code`, `description`, `parameters.retry_after`,
`parameters.migrate_to_chat_id`) with the provider's profile (`adapters.botapi.BotApiProfile`): which
codes mean a refused token, how long a 429 without `retry_after` waits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from adapters.base import AuthError, DeliveryError, PermanentError, RateLimitedError, RetryableError

if TYPE_CHECKING:
    from adapters.botapi import BotApiProfile

ANY_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


class UpdatesConflict(PermanentError):
    """409: another reader polls this bot's updates (one `getUpdates` reader per token)."""


def translate(profile: BotApiProfile, status: int, envelope: Mapping[str, Any], token: str) -> DeliveryError:
    """The typed error for an error answer; `account_chat` problems are refined by the caller."""
    code = envelope.get("error_code")
    code = code if isinstance(code, int) else status
    description = scrub(str(envelope.get("description") or f"HTTP {status}"), token)
    raw_parameters = envelope.get("parameters")
    parameters: Mapping[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
    name = profile.name
    if code == 429 or status == 429:
        wait = retry_after(parameters, profile.fallback_retry_after)
        return RateLimitedError(
            f"{name} flood control: retry in {wait.total_seconds():g}s", reset_at=datetime.now(UTC) + wait
        )
    if parameters.get("migrate_to_chat_id") is not None:
        return PermanentError(
            f"{name} chat moved to {parameters['migrate_to_chat_id']}; set the account's chat_id to it"
        )
    if code == 409 or status == 409:
        return UpdatesConflict(f"{name}: {description}; another process reads this bot's updates")
    if code == 403 or status == 403:
        renew = " or renew the bot token" if 403 in profile.bad_token_codes else ""
        return AuthError(
            f"{name} forbade the bot ({description}); make the bot an admin of the channel{renew}"
        )
    if code in profile.bad_token_codes or status in profile.bad_token_codes:
        return AuthError(f"{name} refused the bot token ({code} {description}); renew it")
    if code >= 500 or status >= 500:
        return RetryableError(f"{name} failed: {code} {description}")
    return PermanentError(f"{name} refused the message: {description}")


def is_setup_problem(profile: BotApiProfile, error: DeliveryError) -> bool:
    """A refusal that says the account's own chat is wrong (not found, bot not an admin)."""
    said = str(error).lower()
    return isinstance(error, PermanentError) and any(problem in said for problem in profile.setup_problems)


def retry_after(parameters: Mapping[str, Any], fallback: timedelta) -> timedelta:
    value = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
    if isinstance(value, int | float) and value >= 0:
        return timedelta(seconds=max(1.0, float(value)))
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        return timedelta(seconds=max(1.0, float(value)))
    return fallback


def scrub(text: str, token: str) -> str:
    """`text` without the bot token (or anything shaped like one)."""
    if token:
        text = text.replace(token, "<bot-token>")
        secret = token.partition(":")[2]
        if secret:
            text = text.replace(secret, "<bot-token>")
    return ANY_TOKEN.sub("<bot-token>", text)
