"""Bale (بله), the Iranian messenger, whose Bot API is Telegram's on its own host; its differences
(`getChatMembersCount`, no `forwardMessages`, 403/404 for a bad token…) are in `adapters.botapi.BALE`."""

from __future__ import annotations

from typing import ClassVar

from adapters import register
from adapters.botapi import BALE, BotApiProfile
from adapters.botfamily import BotApiAdapter


@register
class BaleAdapter(BotApiAdapter):
    platform = "bale"
    title = "بله"
    name = "Bale"
    profile: ClassVar[BotApiProfile] = BALE
