"""Structured logs: JSON lines for machines, colour for people, and no secret in either.

Redaction runs last, after tracebacks are rendered to text, so a token hidden in a URL, an
exception message or a traceback line is masked too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

MASK = "***"

# Shapes of secrets that need no registration: Telegram/Bale bot tokens (also inside URLs),
# bearer tokens, OAuth 1.0a header parameters and webhook secrets.
_SECRET_PATTERNS = [
    re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}"),  # also right after "/bot" in a URL
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r'(?i)(oauth_(?:token|signature|consumer_key|nonce)=")[^"]*'),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
]


class Redactor:
    """Masks registered secret values and known secret shapes in every string of an event."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def register(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        merged = {s for s in (*self._secrets, *secrets) if s and len(s) >= 4}
        self._secrets = sorted(merged, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(item) for item in value)
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        return value

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> EventDict:
        return {key: self._clean(value) for key, value in event.items()}


redactor = Redactor()


def configure(fmt: str | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library (FastStream, httpx, aiohttp) through one pipeline."""
    chosen = (
        fmt or os.environ.get("HAMAFZA_LOG_FORMAT") or ("console" if sys.stdout.isatty() else "json")
    ).lower()
    level_name = (level or os.environ.get("HAMAFZA_LOG_LEVEL") or "INFO").upper()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if chosen == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        final: list[Processor] = [structlog.processors.format_exc_info, redactor, renderer]
    else:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        # Frames without their locals: a local variable may hold credentials no pattern knows.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        final = [tracebacks, redactor, renderer]

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_name)
    # Request-per-line loggers print full URLs, which carry bot tokens; their errors still surface
    # through our own typed errors.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "telegram", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str = "hamafza") -> Any:
    return structlog.get_logger(name)
