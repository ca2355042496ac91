"""Secrets never reach a log line: registered values and token shapes, in messages, URLs,
exceptions and tracebacks, from structlog and from the standard library alike."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from services.logs import MASK, configure, get_logger, redactor

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "consumer-secret-value-42"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    output = io.StringIO()
    structlog.reset_defaults()
    configure(fmt="json", level="DEBUG", stream=output)
    redactor.register([SECRET])
    yield output
    configure(fmt="json")


def lines(output: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "text",
    [
        f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
        f"credentials refused: {SECRET}",
        'Authorization: OAuth oauth_consumer_key="abcdef", oauth_token="1001-token-value", oauth_signature="c2lnbmF0dXJl"',
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
        "webhook secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ],
)
def test_secrets_are_masked_in_structlog_lines(json_logs: io.StringIO, text: str) -> None:
    get_logger("test").info("delivery.failed", detail=text, nested={"url": text}, items=[text])
    [line] = lines(json_logs)
    rendered = json.dumps(line)
    for secret in (
        TOKEN,
        SECRET,
        "1001-token-value",
        "c2lnbmF0dXJl",
        "eyJhbGciOiJIUzI1NiJ9",
        "whsec_MfKQ9r8",
    ):
        assert secret not in rendered
    assert MASK in rendered


def test_secrets_are_masked_in_tracebacks_and_stdlib_records(json_logs: io.StringIO) -> None:
    try:
        raise RuntimeError(f"request to https://tapi.bale.ai/bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        get_logger("test").exception("delivery.adapter_bug")
        logging.getLogger("faststream.test").exception("stdlib saw it too")
    output = json.dumps(lines(json_logs))
    assert TOKEN not in output and "bot***/sendMessage" in output


def test_work_lines_carry_their_context(json_logs: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(item_id="i1", agency="khz-roads", platform="x", account="x:1001",
                                                 action="publish"):  # fmt: skip
        get_logger("test").info("delivery.posted")
    [line] = lines(json_logs)
    assert {
        "item_id": "i1",
        "agency": "khz-roads",
        "platform": "x",
        "account": "x:1001",
        "action": "publish",
    }.items() <= line.items()
