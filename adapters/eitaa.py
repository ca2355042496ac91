"""Eitaa (ایتا) channels, through its bot HTTP API at `https://eitaayar.ir/api/<TOKEN>/<method>`.

Text only: `sendMessage` to a channel the token's bot administers. Eitaa's `sendFile` takes an
uploaded file, not a URL, so media would have to be downloaded and re-uploaded; that is not done
yet (`media_limit = 0`), and the link in the text stands for the picture. The API has no forward,
so Eitaa has no amplification, and no way to read a channel's history, so an ambiguous send cannot
be reconciled. Eitaa documents no error format: errors are read as the Telegram-style envelope its
clients expect, falling back on the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters import register
from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    DeliveryError,
    LazySession,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from schemas import Delivery

FALLBACK_RETRY_AFTER = timedelta(seconds=60)
ChatId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(@?[A-Za-z0-9_]+|-?\d+)$")]


class EitaaCredentials(BaseModel):
    """The token from eitaayar.ir (its bot panel) and the channel's id or username."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, coerce_numbers_to_str=True
    )

    token: str = Field(min_length=10, pattern=r"^[A-Za-z0-9_:.-]+$", repr=False)
    chat_id: ChatId


@register
class EitaaAdapter(Adapter[EitaaCredentials]):
    platform: ClassVar[str] = "eitaa"
    title: ClassVar[str] = "ایتا"
    credentials_model: ClassVar[type[BaseModel]] = EitaaCredentials
    default_api_base: ClassVar[str] = "https://eitaayar.ir"
    text_limit: ClassVar[int] = 4096
    media_limit: ClassVar[int] = 0
    secret_fields: ClassVar[frozenset[str]] = frozenset({"token"})

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._http = LazySession(self.timeout_seconds)

    def account_label(self, credentials: EitaaCredentials) -> str:
        return f"eitaa:{credentials.chat_id}"

    async def publish(
        self, credentials: EitaaCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        chat = credentials.chat_id.lstrip("@")
        result = await self._call(credentials, "sendMessage", {"chat_id": chat, "text": delivery.text})
        message_id = str(result.get("message_id", "")) if isinstance(result, dict) else ""
        if not message_id:
            raise AmbiguousError("eitaa answered ok without a message id; the message may have been sent")
        url = None if chat.lstrip("-").isdigit() else f"https://eitaa.com/{chat}/{message_id}"
        return Posted(post_id=message_id, url=url, chat=credentials.chat_id)

    async def aclose(self) -> None:
        await self._http.close()

    # --- plumbing --------------------------------------------------------------------------------

    async def _call(self, credentials: EitaaCredentials, method: str, data: dict[str, str]) -> Any:
        url = f"{self.api_base}/api/{credentials.token}/{method}"
        failure: DeliveryError
        try:
            async with self._http.get().post(url, data=data) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return self._result(response.status, response.headers, body)
        except aiohttp.ClientConnectorError:
            failure = RetryableError("could not connect to Eitaa; nothing was sent")
        except aiohttp.ConnectionTimeoutError:
            failure = RetryableError("timed out connecting to Eitaa; nothing was sent")
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = AmbiguousError(
                f"Eitaa may or may not have sent the message ({type(error).__name__} after the request)"
            )
        # Raised here, without the aiohttp error (whose URL holds the token) as its context.
        raise failure

    def _result(self, status: int, headers: Any, body: Any) -> Any:
        envelope = body if isinstance(body, dict) else {}
        if status == 200 and envelope.get("ok") is True:
            return envelope.get("result")
        code = int(envelope.get("error_code") or status)
        description = str(envelope.get("description") or f"HTTP {status}")
        said = f"eitaa answered {code}: {description}"
        if status == 200 and not envelope:
            raise AmbiguousError(f"eitaa answered 200 with a body that is not its JSON envelope ({said})")
        if code == 429 or status == 429:
            raise RateLimitedError(said, reset_at=datetime.now(UTC) + _retry_after(envelope, headers))
        if code in {401, 403} or status in {401, 403}:
            raise AuthError(f"{said}; renew the token and make its bot an admin of the channel")
        if code >= 500 or status >= 500:
            raise RetryableError(said)
        raise PermanentError(said)


def _retry_after(envelope: dict[str, Any], headers: Any) -> timedelta:
    parameters = envelope.get("parameters") if isinstance(envelope.get("parameters"), dict) else {}
    for value in ((parameters or {}).get("retry_after"), headers.get("Retry-After")):
        if value is not None and re.fullmatch(r"\d+(\.\d+)?", str(value)):
            return timedelta(seconds=float(value))
    return FALLBACK_RETRY_AFTER
