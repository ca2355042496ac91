"""Deliver's error → outcome table, and the ledger's claim verdicts, without I/O."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

import adapters.base
from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from schemas import DeadReason
from services.pipeline.ledger import Verdict
from services.pipeline.outcomes import POLICY, Outcome, decide

RESET = datetime(2026, 1, 1, tzinfo=UTC)


class FlakyGateway(RetryableError):
    """An adapter's own subclass: decided by its base's row."""


@pytest.mark.parametrize(
    ("error", "outcome", "reason", "detail"),
    [
        (RateLimitedError("429", RESET), Outcome.WAIT_FOR_RESET, None, "429"),
        (RetryableError("502 Bad Gateway"), Outcome.RETRY, None, "502 Bad Gateway"),
        (FlakyGateway("gateway"), Outcome.RETRY, None, "gateway"),
        (
            CannotReconcile("no way to check"),
            Outcome.DEAD,
            DeadReason.UNCONFIRMED,
            "no way to check. Check the account, then `hamafza dlq resolve <id> --posted <url>` or `--absent`",
        ),
        (
            AuthError("401 token revoked"),
            Outcome.PAUSE_AND_DEAD,
            DeadReason.AUTH_FAILED,
            "401 token revoked; renew the account's credentials, then `hamafza dlq replay`",
        ),
        (PermanentError("duplicate"), Outcome.DEAD, DeadReason.CONTENT_REJECTED, "duplicate"),
        (AmbiguousError("connection reset"), Outcome.RECONCILE, None, "connection reset"),
        (TimeoutError(), Outcome.RECONCILE, None, "timed out"),
        (KeyError("id"), Outcome.RECONCILE, None, "unexpected KeyError"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_each_error_has_one_outcome(
    error: BaseException, outcome: Outcome, reason: DeadReason | None, detail: str
) -> None:
    decision = decide(error)
    assert (decision.outcome, decision.reason, decision.detail) == (outcome, reason, detail)
    assert decision.rule.bug == (type(error) is KeyError)


def test_no_row_is_hidden_behind_an_earlier_one() -> None:
    """Top to bottom: a row under its own base class would never match."""
    for index, later in enumerate(POLICY):
        for earlier in POLICY[:index]:
            assert not issubclass(later.error, earlier.error), (earlier.error, later.error)


def test_every_adapter_error_has_a_row_of_its_own() -> None:
    """A new kind of adapter error must be decided on purpose, not by the catch-all for bugs."""
    kinds = {
        cls
        for _, cls in inspect.getmembers(adapters.base, inspect.isclass)
        if issubclass(cls, DeliveryError) and cls is not DeliveryError
    }
    assert kinds <= {rule.error for rule in POLICY}


def test_dead_outcomes_name_a_reason_and_others_do_not() -> None:
    for rule in POLICY:
        assert (rule.reason is not None) == (rule.outcome in {Outcome.DEAD, Outcome.PAUSE_AND_DEAD}), rule


def test_cancellation_is_not_decided() -> None:
    import asyncio

    with pytest.raises(asyncio.CancelledError):
        decide(asyncio.CancelledError())


def test_the_claim_script_verdicts_are_the_enum() -> None:
    """The Lua claim script answers with these words; anything else fails loudly."""
    assert [verdict.value for verdict in Verdict] == ["go", "ambiguous", "busy", "paused", "posted", "dead"]
    assert Verdict.parse(b"posted") is Verdict.POSTED
    with pytest.raises(ValueError):
        Verdict.parse(b"maybe")
