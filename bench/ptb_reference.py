"""The python-telegram-bot path Hamafza used before its own Bot-API client, kept as the bench's
reference: PTB's `Bot` over its HTTPX transport, one per bot token, exactly as the former Telegram
adapter made them (20 s timeouts, PTB's default pool of 256 connections per bot) and called them
(`send_message` with link preview options, the answer turned into a `Posted`)."""

from __future__ import annotations

import logging
import warnings

import telegram
from telegram.request import HTTPXRequest

from adapters.base import Posted
from adapters.botfamily import BotCredentials
from schemas import Delivery

logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("telegram.Bot").setLevel(logging.INFO)
warnings.filterwarnings("ignore", module="telegram")


class PtbTelegram:
    """`publish` of text through python-telegram-bot."""

    def __init__(self, api_base: str, timeout_seconds: float = 20.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._bots: dict[str, tuple[telegram.Bot, HTTPXRequest]] = {}

    def _bot(self, token: str) -> telegram.Bot:
        cached = self._bots.get(token)
        if cached is None:
            request = HTTPXRequest(
                connect_timeout=min(5.0, self.timeout_seconds),
                read_timeout=self.timeout_seconds,
                write_timeout=self.timeout_seconds,
                media_write_timeout=self.timeout_seconds,
                pool_timeout=self.timeout_seconds,
            )
            bot = telegram.Bot(
                token, base_url=f"{self.api_base}/bot", request=request, get_updates_request=request
            )
            cached = self._bots[token] = (bot, request)
        return cached[0]

    async def publish(self, credentials: BotCredentials, delivery: Delivery) -> Posted:
        bot = self._bot(credentials.bot_token)
        preview = telegram.LinkPreviewOptions(is_disabled=False, url=delivery.link)
        message = await bot.send_message(
            chat_id=credentials.chat_id, text=delivery.text, link_preview_options=preview
        )
        username = message.chat.username
        return Posted(
            post_id=str(message.message_id),
            url=f"https://t.me/{username}/{message.message_id}" if username else None,
            chat=credentials.chat_id,
        )

    async def aclose(self) -> None:
        bots, self._bots = self._bots, {}
        for _, request in bots.values():
            await request.shutdown()
