"""Structured logs: JSON lines for machines, colour for people, and no secret in either.

Redaction runs last, after tracebacks are rendered to text, so a token hidden in a URL, an
exception message or a traceback line is masked too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

MASK = "***"

# Shapes of secrets that need no registration: Telegram/Bale bot tokens (also inside URLs),
# bearer tokens, OAuth 1.0a header parameters and webhook secrets.
_SECRET_PATTERNS = [
    re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}"),  # also right after "/bot" in a URL
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r'(?i)(oauth_(?:token|signature|consumer_key|nonce)=\\?")[^"\\]*'),  # also JSON-escaped
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
]


class Redactor:
    """Masks registered secret values and known secret shapes in rendered log lines.

    It runs on the final text, after tracebacks and nested values are rendered, so nothing a
    processor adds later can carry a secret past it; one regex pass per line keeps it cheap.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._registered: re.Pattern[str] | None = None

    def register(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if secret and len(secret) >= 4:
                self._secrets.add(secret)
                self._secrets.add(json.dumps(secret, ensure_ascii=False)[1:-1])  # as it looks inside JSON
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._registered = re.compile("|".join(re.escape(secret) for secret in ordered)) if ordered else None

    def scrub(self, text: str) -> str:
        if self._registered is not None:
            text = self._registered.sub(MASK, text)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text

    def __call__(self, logger: Any, method: str, rendered: Any) -> str:
        """The last processor: the rendered line, scrubbed."""
        return self.scrub(rendered.decode() if isinstance(rendered, bytes) else rendered)


redactor = Redactor()


class _Sink:
    """The stream our loggers write to; `configure` may point it elsewhere after loggers are cached."""

    def __init__(self) -> None:
        self.target: TextIO | None = None  # None: whatever sys.stdout (or stderr) is when writing
        self.use_stderr = False  # the CLI: data on stdout, logs on stderr

    def _current(self) -> TextIO:
        return self.target or (sys.stderr if self.use_stderr else sys.stdout)

    def write(self, text: str) -> int:
        return self._current().write(text)

    def flush(self) -> None:
        self._current().flush()


# Kept as the same objects across `configure` calls, because structlog caches loggers on first use
# with the processor list and the stream they saw then.
_SINK = _Sink()
_PROCESSORS: list[Processor] = []
_THRESHOLD = {"level": logging.INFO}


_LEVELS = {name.lower(): number for name, number in logging.getLevelNamesMapping().items()}
_LEVELS["exception"] = logging.ERROR


def _filter_level(logger: Any, method: str, event: EventDict) -> EventDict:
    if _LEVELS.get(method, logging.INFO) < _THRESHOLD["level"]:
        raise structlog.DropEvent
    return event


def configure(
    fmt: str | None = None, level: str | None = None, stream: TextIO | None = None, to_stderr: bool = False
) -> None:
    """structlog for our lines (rendered straight to the stream), and the standard library's records
    (FastStream, httpx, aiohttp) through the same renderer and redaction."""
    chosen = (
        fmt or os.environ.get("HAMAFZA_LOG_FORMAT") or ("console" if sys.stdout.isatty() else "json")
    ).lower()
    level_name = (level or os.environ.get("HAMAFZA_LOG_LEVEL") or "INFO").upper()
    output = stream or (sys.stderr if to_stderr else sys.stdout)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _name_the_logger,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Processor]
    if chosen == "console":
        rendering = [
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=output.isatty()),
        ]
    else:
        # Frames without their locals: a local variable may hold credentials no pattern knows.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        rendering = [tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]

    _SINK.target = stream
    _SINK.use_stderr = to_stderr
    _THRESHOLD["level"] = logging.getLevelNamesMapping()[level_name]
    _PROCESSORS[:] = [_filter_level, *shared, *rendering, redactor]
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=structlog.WriteLoggerFactory(file=_SINK),  # type: ignore[arg-type]
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering, redactor],
    )
    handler = logging.StreamHandler(_SINK)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_name)
    # Request-per-line loggers print full URLs, which carry bot tokens; their errors still surface
    # through our own typed errors. Each adapter names its own libraries' loggers.
    from adapters import load_adapters

    platform_loggers = [name for adapter in load_adapters().values() for name in adapter.chatty_loggers]
    for noisy in ("httpx", "httpcore", "aiohttp.access", "hpack", *platform_loggers):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str = "hamafza") -> Any:
    # An initial value, not .bind(), which would resolve the logger before `configure` runs; and
    # not `logger=`, which structlog's factory takes for itself (see `_name_the_logger`).
    return structlog.get_logger(logger_name=name)


def _name_the_logger(logger: Any, method: str, event: EventDict) -> EventDict:
    if "logger_name" in event:
        event["logger"] = event.pop("logger_name")
    return event
