"""Telegram's public channel preview, `{web_base}/s/{channel}`: each recent post's id, text and views.

Bots cannot read view counts, but a public channel's web preview shows them under every post
(`tgme_widget_message_views`, rounded as "1.2K"). The page lists the newest ~20 posts; `?before=<id>`
lists the ones before that id. Parsing is pure (`parse_preview`), tested on the real markup's shape;
`PreviewReader` fetches pages without credentials (nothing secret is in these URLs).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from selectolax.lexbor import LexborHTMLParser, LexborNode

from adapters.base import LazySession, RetryableError

_COUNT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([KkMm]?)\s*$")
_MULTIPLIER = {"": 1, "k": 1_000, "m": 1_000_000}


@dataclass(frozen=True, slots=True)
class PreviewPost:
    """One post as the public preview shows it; views rounded as Telegram shows them."""

    post_id: int
    text: str
    views: int | None
    at: datetime | None


def parse_count(shown: str) -> int | None:
    """ "935" → 935, "1.2K" → 1200, "3.4M" → 3400000; None for anything else."""
    match = _COUNT.match(shown)
    if match is None:
        return None
    number, unit = match.groups()
    return round(float(number.replace(",", ".")) * _MULTIPLIER[unit.lower()])


def normalized(text: str) -> str:
    """Text compared across the API and the web page: NFC, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def parse_preview(html: str, channel: str) -> list[PreviewPost]:
    """The posts of `channel` on one preview page, oldest first (as the page lists them)."""
    tree = LexborHTMLParser(html)
    posts: list[PreviewPost] = []
    wanted = channel.lstrip("@").lower()
    for message in tree.css("div.tgme_widget_message[data-post]"):
        owner, _, number = (message.attributes.get("data-post") or "").rpartition("/")
        if owner.lower() != wanted or not number.isdigit():
            continue
        posts.append(
            PreviewPost(
                post_id=int(number),
                text=_text(message.css_first(".tgme_widget_message_text")),
                views=_views(message.css_first(".tgme_widget_message_views")),
                at=_time(message.css_first(".tgme_widget_message_date time[datetime]")),
            )
        )
    return posts


def _text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    for line_break in node.css("br"):
        line_break.replace_with("\n")
    return node.text(deep=True)


def _views(node: LexborNode | None) -> int | None:
    return parse_count(node.text()) if node is not None else None


def _time(node: LexborNode | None) -> datetime | None:
    value = node.attributes.get("datetime") if node is not None else None
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


class PreviewReader:
    """Reads preview pages of public channels at `{web_base}/s/{channel}`."""

    def __init__(self, web_base: str, timeout_seconds: float = 20.0) -> None:
        self.web_base = web_base.rstrip("/")
        self._http = LazySession(timeout_seconds, headers={"Accept": "text/html"})

    async def page(self, channel: str, before: int | None = None) -> list[PreviewPost]:
        name = channel.lstrip("@")
        url = f"{self.web_base}/s/{name}"
        params = {"before": str(before)} if before is not None else None
        failure: RetryableError
        try:
            async with self._http.get().get(url, params=params, allow_redirects=False) as response:
                if response.status != 200:
                    raise RetryableError(f"the public preview of @{name} answered {response.status}")
                return parse_preview(await response.text(errors="replace"), name)
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = RetryableError(
                f"the public preview of @{name} could not be read ({type(error).__name__})"
            )
        raise failure

    async def posts(self, channel: str, ids: set[int], max_pages: int = 4) -> dict[int, PreviewPost]:
        """The posts among `ids` found on up to `max_pages` pages, newest pages first."""
        found: dict[int, PreviewPost] = {}
        before: int | None = None
        for _ in range(max_pages):
            page = await self.page(channel, before)
            found.update({post.post_id: post for post in page if post.post_id in ids})
            missing = ids - found.keys()
            if not page or not missing:
                break
            oldest = min(post.post_id for post in page)
            # Ids the page should have shown were deleted; only older ones are on further pages.
            older = [post_id for post_id in missing if post_id < oldest]
            if not older:
                break
            before = max(older) + 1
        return found

    async def close(self) -> None:
        await self._http.close()
