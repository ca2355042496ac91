"""Soroush+ (سروش‌پلاس), whose Bot API at `{api_base}/bot{token}/{method}` (https://api.splus.ir) says it
is Telegram-compatible. Only getUpdates and sendMessage/Photo/Voice/Document are documented; the rest
follows Telegram's shape (`adapters.botapi.SOROUSH`), and whether a bot may post into a channel it
administers has not been tried live."""

from __future__ import annotations

from typing import ClassVar

from adapters import register
from adapters.botapi import SOROUSH, BotApiProfile
from adapters.botfamily import BotApiAdapter


@register
class SoroushAdapter(BotApiAdapter):
    platform = "soroush"
    title = "سروش‌پلاس"
    name = "Soroush+"
    profile: ClassVar[BotApiProfile] = SOROUSH
