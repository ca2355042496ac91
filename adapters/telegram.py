"""Telegram channels, through a bot that administers the channel (`adapters.botfamily`), plus what
only Telegram offers: a public channel's web preview (`{web_base}/s/{channel}`).

Bots cannot read views, but the preview shows every recent post's text and views: for public
channels (`chat_id` an `@username`) those views are the post's reach (`metrics`: views and
impressions), and an ambiguous send is looked up there by its text (`reconcile`) before it is ever
called `unconfirmed` (only one that is found settles it: one not shown may still be carried out). A
private channel (a numeric `chat_id`) has no preview: its ambiguous sends stay
`unconfirmed` and its reach is the member count alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from adapters import register
from adapters.base import CannotReconcile, Engagement, Posted
from adapters.botapi import TELEGRAM, BotApiProfile
from adapters.botfamily import BotApiAdapter, BotCredentials
from adapters.telegram_preview import PreviewReader, normalized
from schemas import Action, Delivery

__all__ = ["BotCredentials", "TelegramAdapter"]

# A post found by its text must be this recent: an older one with the same words is another post.
RECONCILE_WINDOW = timedelta(hours=6)


@register
class TelegramAdapter(BotApiAdapter):
    platform = "telegram"
    title = "تلگرام"
    name = "Telegram"
    profile: ClassVar[BotApiProfile] = TELEGRAM
    default_web_base = "https://t.me"
    supports_metrics = True
    # One preview page shows about 20 posts.
    metrics_batch_size = 20

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self.preview = PreviewReader(self.web_base or "https://t.me", timeout_seconds)

    async def metrics(self, credentials: BotCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        """Views from the public preview (views are what Telegram calls impressions); {} if private."""
        username = self._username(credentials)
        ids = {int(post_id) for post_id in post_ids if post_id.isdigit()}
        if username is None or not ids:
            return {}
        found = await self.preview.posts(username, ids)
        return {
            str(post_id): Engagement(views=post.views, impressions=post.views)
            for post_id, post in found.items()
            if post.views is not None
        }

    async def reconcile(self, credentials: BotCredentials, delivery: Delivery) -> Posted | None:
        """The post of an ambiguous send, found on the public preview by its text. Never None: a
        send not shown there may still arrive, so it stays for a person (CannotReconcile)."""
        username = self._username(credentials)
        if username is None:
            raise CannotReconcile("a private channel has no public page to check")
        if delivery.action is Action.FORWARD or not delivery.text.strip():
            raise CannotReconcile("a forward carries no text of its own to look for")
        wanted = normalized(delivery.text)
        since = datetime.now(UTC) - RECONCILE_WINDOW
        page = await self.preview.page(username)
        matches = [
            post for post in page if normalized(post.text) == wanted and (post.at is None or post.at >= since)
        ]
        if not matches:
            # Not "surely absent": a request that timed out may still be carried out after this
            # look, and sending again would then post twice. A person checks.
            raise CannotReconcile(
                f"the public preview of @{username} does not show it (yet); it may still be carried out"
            )
        # An album shows as one post with the caption; the newest match is this send's.
        post = max(matches, key=lambda found: found.post_id)
        return Posted(
            post_id=str(post.post_id),
            url=self._post_url(username, str(post.post_id)),
            chat=credentials.chat_id,
        )

    async def aclose(self) -> None:
        await super().aclose()
        await self.preview.close()
