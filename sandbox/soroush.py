"""A fake of Soroush+'s Bot API (`/soroush/bot<token>/<method>`), which says it is Telegram-compatible.

Its documentation lists getUpdates and sendMessage/Photo/Voice/Document; the fake also answers
sendVideo, sendMediaGroup, forwardMessage and the member count in Telegram's shapes (what the Hamafza
client relies on, unverified live), but not copyMessage or forwardMessages, and has no public preview.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.server import DemoAccounts, register_fake
from sandbox.telegram import TelegramFake


@register_fake
class SoroushFake(TelegramFake):
    platform = "soroush"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "qom-governorate": {
                "bot_token": "3101:SPqomGovDemoTokenXXXXXXXXXXXXXX",
                "chat_id": "@qom_ostandari",
            },
            "qom-municipality": {"bot_token": "3102:SPqomCityDemoTokenXXXXXXXXXXXXX", "chat_id": "@qom_city"},
        },
        amplify={"qom-pilgrims": "forward"},
    )
    post_url_base: ClassVar[str] = "https://splus.ir"
    has_copy: ClassVar[bool] = False
    has_forward_many: ClassVar[bool] = False
    has_public_preview: ClassVar[bool] = False
