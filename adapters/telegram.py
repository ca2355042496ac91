"""Telegram channels, through a bot that is an admin of the channel (python-telegram-bot).

A post with media goes out as one `sendPhoto` with the text as its caption, so it is held to the
caption limit (1024) instead of the text limit (4096); only the first media item is sent
(`media_limit = 1`), as an album would give several message ids for one delivery. Amplification is a
`forwardMessage` of the partner's post, which keeps the "forwarded from" attribution.

The Bot API has no idempotency key and a bot cannot read its channel's history, so an ambiguous send
cannot be reconciled (the base class's `reconcile` says so).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar

import httpx
import telegram
from pydantic import BaseModel, ConfigDict, StringConstraints
from telegram._utils.types import ODVInput
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest, RequestData
from telegram.request._baserequest import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from adapters import register
from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    DeliveryError,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from schemas import Action, Delivery, Item, PostRef

# The bot token is part of every request URL (`/bot<token>/sendMessage`), and httpx logs each
# request URL at INFO; keeping httpx at WARNING keeps tokens out of the logs.
logging.getLogger("httpx").setLevel(logging.WARNING)
# PTB logs the full API URL, token included, at DEBUG when a Bot is made.
logging.getLogger("telegram.Bot").setLevel(logging.INFO)

BotToken = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d+:[A-Za-z0-9_-]+$")]
ChatId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(@[A-Za-z0-9_]+|-?\d+)$")]

ANY_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")
# Bale's 429 may come without `retry_after`; Telegram's guidance is 20 messages a minute per chat.
FALLBACK_RETRY_AFTER_SECONDS = 60
# httpx errors that mean the request never reached the server, so sending again cannot double-post.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# 400 answers that mean the account's channel is set up wrong, not that this post is bad.
ACCOUNT_SETUP_PROBLEMS = (
    "chat not found",
    "no such group or user",
    "not enough rights",
    "need administrator",
)


class BotCredentials(BaseModel):
    """A bot that is an admin of the channel it posts to."""

    # A malformed token is still a secret: keep it out of validation error messages.
    model_config = ConfigDict(
        extra="forbid", frozen=True, coerce_numbers_to_str=True, hide_input_in_errors=True
    )

    bot_token: BotToken
    chat_id: ChatId


class _BotApiRequest(HTTPXRequest):
    """PTB's HTTPX transport, with a 429 that lacks `retry_after` still read as flood control.

    PTB only raises `RetryAfter` when the body has `parameters.retry_after`; otherwise a 429 becomes
    a plain `NetworkError`, indistinguishable from a 5xx.
    """

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if status == 429 and b"retry_after" not in payload:
            raise RetryAfter(FALLBACK_RETRY_AFTER_SECONDS)
        return status, payload


@register
class TelegramAdapter(Adapter[BotCredentials]):
    platform = "telegram"
    title = "تلگرام"
    credentials_model = BotCredentials
    default_api_base = "https://api.telegram.org"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.FORWARD: "forward"}
    text_limit = 4096
    # Telegram's guidance: about 20 messages a minute into one group or channel.
    rate_limit: ClassVar[str | None] = "20/minute"
    caption_limit: ClassVar[int] = 1024
    media_limit = 1
    secret_fields = frozenset({"bot_token"})
    post_url_base: ClassVar[str] = "https://t.me"
    # A bot cannot read its channel's view counts; only the member count (potential reach).
    supports_metrics = False

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._bots: dict[str, tuple[telegram.Bot, HTTPXRequest]] = {}

    # --- rendering -------------------------------------------------------------------------------

    def limit_for(self, item: Item) -> tuple[int, str]:
        # A post with media is one `sendPhoto`, its text the caption.
        if item.media:
            return self.caption_limit, "caption limit (a post with a picture)"
        return self.text_limit, "limit"

    # --- calls -----------------------------------------------------------------------------------

    def account_label(self, credentials: BotCredentials) -> str:
        return f"{self.platform}:{credentials.chat_id}"

    async def publish(
        self, credentials: BotCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        bot = self._bot(credentials.bot_token)
        try:
            if delivery.media:
                message = await bot.send_photo(
                    chat_id=credentials.chat_id, photo=str(delivery.media[0].url), caption=delivery.text
                )
            else:
                # Preview the item's own link, not whichever URL happens to come first in the body.
                preview = telegram.LinkPreviewOptions(is_disabled=False, url=delivery.link)
                message = await bot.send_message(
                    chat_id=credentials.chat_id, text=delivery.text, link_preview_options=preview
                )
        except TelegramError as error:
            raise self._translate(error, credentials.bot_token, account_chat=True) from None
        return self._posted(credentials, message)

    async def amplify(
        self,
        credentials: BotCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action is not Action.FORWARD:
            return await super().amplify(credentials, delivery, source)
        if source.chat is None or not source.post_id.isdigit():
            raise PermanentError(
                f"cannot forward {source.platform} post {source.post_id!r}: it has no chat or message id"
            )
        bot = self._bot(credentials.bot_token)
        try:
            message = await bot.forward_message(
                chat_id=credentials.chat_id, from_chat_id=source.chat, message_id=int(source.post_id)
            )
        except TelegramError as error:
            # Here "chat not found" may be the partner's chat as well as ours.
            raise self._translate(error, credentials.bot_token, account_chat=False) from None
        return self._posted(credentials, message)

    async def audience(self, credentials: BotCredentials) -> int | None:
        """The channel's member count (getChatMemberCount): its potential reach."""
        bot = self._bot(credentials.bot_token)
        try:
            return int(await bot.get_chat_member_count(chat_id=credentials.chat_id))
        except TelegramError as error:
            raise self._translate(error, credentials.bot_token, account_chat=True) from None

    async def aclose(self) -> None:
        # The bots were never `initialize()`d (no call needs it), so `Bot.shutdown()` would do
        # nothing; the HTTP client is closed directly.
        bots, self._bots = self._bots, {}
        for _, request in bots.values():
            await request.shutdown()

    # --- helpers ---------------------------------------------------------------------------------

    def _bot(self, token: str) -> telegram.Bot:
        cached = self._bots.get(token)
        if cached is None:
            request = _BotApiRequest(
                connect_timeout=min(5.0, self.timeout_seconds),
                read_timeout=self.timeout_seconds,
                write_timeout=self.timeout_seconds,
                media_write_timeout=self.timeout_seconds,
                pool_timeout=self.timeout_seconds,
            )
            # One client serves both slots: the adapter never polls for updates.
            bot = telegram.Bot(
                token, base_url=f"{self.api_base}/bot", request=request, get_updates_request=request
            )
            cached = self._bots[token] = (bot, request)
        return cached[0]

    def _posted(self, credentials: BotCredentials, message: telegram.Message) -> Posted:
        return Posted(
            post_id=str(message.message_id),
            url=self._post_url(message.chat.username, message.message_id),
            chat=credentials.chat_id,
        )

    def _post_url(self, username: str | None, message_id: int) -> str | None:
        return f"{self.post_url_base}/{username}/{message_id}" if username else None

    def _translate(self, error: TelegramError, token: str, *, account_chat: bool) -> DeliveryError:
        """The typed error for what the Bot API (or the way to it) said, without the token in it."""
        said = scrub(str(error), token)
        name = self.platform
        if isinstance(error, RetryAfter):
            return RateLimitedError(
                f"{name} flood control: retry in {retry_after_seconds(error):g}s",
                reset_at=datetime.now(UTC) + timedelta(seconds=retry_after_seconds(error)),
            )
        if isinstance(error, ChatMigrated):
            return PermanentError(
                f"{name} chat moved to {error.new_chat_id}; set the account's chat_id to it"
            )
        if isinstance(error, InvalidToken):
            return AuthError(f"{name} refused the bot token ({said}); renew it")
        if isinstance(error, Forbidden):
            return AuthError(f"{name} forbade the bot ({said}); make the bot an admin of the channel")
        if isinstance(error, BadRequest):
            if account_chat and any(problem in said.lower() for problem in ACCOUNT_SETUP_PROBLEMS):
                return AuthError(f"{name}: {said}; check the chat_id and that the bot is an admin there")
            return PermanentError(f"{name} refused the message: {said}")
        if isinstance(error, TimedOut):
            if isinstance(error.__cause__, NOT_SENT):
                return RetryableError(f"{name} could not be reached in time ({said}); nothing was sent")
            return AmbiguousError(f"{name} did not answer in time; the message may have been sent")
        if isinstance(error, NetworkError):
            cause = error.__cause__
            if isinstance(cause, NOT_SENT):
                return RetryableError(
                    f"{name} could not be reached ({scrub(describe(cause), token)}); nothing was sent"
                )
            if isinstance(cause, httpx.HTTPError):
                return AmbiguousError(
                    f"{name} connection failed after sending ({scrub(describe(cause), token)}); "
                    "the message may have been sent"
                )
            # No transport error behind it: the server answered with an error status (5xx and such).
            return RetryableError(f"{name} failed: {said}")
        # Anything else came after a request was made (an unreadable answer, say): it may have posted.
        return AmbiguousError(f"{name} gave an unexpected answer ({said}); the message may have been sent")


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB warns that `retry_after` will become a timedelta; both shapes are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def scrub(text: str, token: str) -> str:
    """`text` without the bot token, which PTB and httpx messages can carry inside a URL."""
    text = text.replace(token, "<bot-token>")
    secret = token.partition(":")[2]
    if secret:
        text = text.replace(secret, "<bot-token>")
    return ANY_TOKEN.sub("<bot-token>", text)
