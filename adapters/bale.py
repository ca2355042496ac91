"""Bale (بله), the Iranian messenger, whose Bot API is a copy of Telegram's on its own host."""

from __future__ import annotations

from typing import ClassVar

from adapters import register
from adapters.telegram import TelegramAdapter


@register
class BaleAdapter(TelegramAdapter):
    platform = "bale"
    title = "بله"
    default_api_base = "https://tapi.bale.ai"
    post_url_base: ClassVar[str] = "https://ble.ir"
