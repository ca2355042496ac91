"""Deliver's policy, as one table: what a failed platform call leads to.

Read it top to bottom: the first row whose error type matches decides (so a subclass comes before
its base). The table is pure and tested without I/O (tests/unit/test_deliver_policy.py); `Deliver`
carries each outcome out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from schemas import DeadReason


class Outcome(StrEnum):
    WAIT_FOR_RESET = "wait_for_reset"  # the account pauses until the platform's reset; not an attempt
    RETRY = "retry"  # back off through the schedule, up to HAMAFZA_MAX_ATTEMPTS, then a dead letter
    RECONCILE = "reconcile"  # it may have been posted: ask the platform, never resend blindly
    DEAD = "dead"  # a dead letter with the row's reason
    PAUSE_AND_DEAD = "pause_and_dead"  # the whole account pauses (auth), and this delivery is dead


@dataclass(frozen=True)
class Rule:
    error: type[BaseException]
    outcome: Outcome
    reason: DeadReason | None = None  # for DEAD and PAUSE_AND_DEAD
    # What a person reads: `{error}` is the error's text, `{why}` the same or "timed out" when it has
    # none (a bare timeout), `{kind}` the error's type.
    detail: str = "{error}"
    bug: bool = False  # an error no adapter should raise: logged with its traceback


POLICY: tuple[Rule, ...] = (
    Rule(RateLimitedError, Outcome.WAIT_FOR_RESET),
    Rule(RetryableError, Outcome.RETRY),
    Rule(
        CannotReconcile,
        Outcome.DEAD,
        DeadReason.UNCONFIRMED,
        "{error}. Check the account, then `hamafza dlq resolve <id> --posted <url>` or `--absent`",
    ),
    Rule(
        AuthError,
        Outcome.PAUSE_AND_DEAD,
        DeadReason.AUTH_FAILED,
        "{error}; renew the account's credentials, then `hamafza dlq replay`",
    ),
    Rule(PermanentError, Outcome.DEAD, DeadReason.CONTENT_REJECTED),
    Rule(AmbiguousError, Outcome.RECONCILE, detail="{why}"),
    Rule(TimeoutError, Outcome.RECONCILE, detail="{why}"),
    # A bug in an adapter after the request may have left: as ambiguous as a timeout.
    Rule(Exception, Outcome.RECONCILE, detail="unexpected {kind}", bug=True),
)


@dataclass(frozen=True)
class Decision:
    rule: Rule
    detail: str

    @property
    def outcome(self) -> Outcome:
        return self.rule.outcome

    @property
    def reason(self) -> DeadReason | None:
        return self.rule.reason


def decide(error: BaseException, policy: tuple[Rule, ...] = POLICY) -> Decision:
    """The first rule that matches `error`, with the detail a person reads."""
    for rule in policy:
        if isinstance(error, rule.error):
            text = str(error)
            detail = rule.detail.format(error=text, why=text or "timed out", kind=type(error).__name__)
            return Decision(rule, detail)
    raise error  # not an Exception (cancellation, exit): not ours to decide
