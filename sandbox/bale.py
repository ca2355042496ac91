"""A fake of Bale's Bot API: Telegram's (sandbox/telegram.py) with Bale's documented differences.

`getChatMembersCount` (plural) instead of `getChatMemberCount`; no `forwardMessages`; no public
preview; bots receive no `channel_post` updates (not in Bale's Update); a malformed token answers 404;
flood control is "bot limit exceed" without `retry_after`; errors in Bale's wording.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sandbox.server import DemoAccounts, register_fake
from sandbox.telegram import TelegramFake


@register_fake
class BaleFake(TelegramFake):
    platform = "bale"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            agency: {"bot_token": f"{bot_id}:BA{name}DemoToken".ljust(36, "X"), "chat_id": chat}
            for agency, bot_id, name, chat in (
                ("khz-roads", 2001, "roads", "@khz_roads"),
                ("khz-ports", 2003, "ports", "@khz_ports"),
                ("qom-governorate", 2101, "qomGov", "@qom_ostandari"),
                ("qom-municipality", 2102, "qomCity", "@qom_city"),
                ("qom-red-crescent", 2103, "qomRcs", "@qom_helal"),
            )
        },
        amplify={"khz-transport-week": "forward", "qom-pilgrims": "forward"},
    )
    post_url_base: ClassVar[str] = "https://ble.ir"
    chat_not_found: ClassVar[str] = "Bad Request: no such group or user"
    not_member: ClassVar[str] = "Forbidden: permission_denied"
    member_count_method: ClassVar[str] = "getChatMembersCount"
    has_forward_many: ClassVar[bool] = False
    has_public_preview: ClassVar[bool] = False
    channel_posts_in_updates: ClassVar[bool] = False
    bad_token: ClassVar[tuple[int, str]] = (404, "Not Found")

    def rate_limit_description(self, retry_after: int) -> str:
        return "bot limit exceed"

    def rate_limit_parameters(self, retry_after: int) -> dict[str, Any] | None:
        # Bale's 429 names no wait; clients fall back on their own.
        return None
