"""Eitaa's public channel page (`https://eitaa.com/<channel>`), read with selectolax: pure parsing.

The page is what eitaa.com serves to browsers: a header with the channel's member count
(`.etme_channel_info_counter .counter_value`) and its latest messages, each a
`div.etme_widget_message_wrap` holding a `div.etme_widget_message` with `data-post="<channel>/<id>"`,
the text in `.etme_widget_message_text` and a view counter in `.etme_widget_message_views`
(as open-source readers of the page, e.g. eitaapykit, find them). Counters are shown abbreviated,
in Latin or Persian digits: `1.2K`, `۱٫۲ هزار`, `3M`, `۴ میلیون`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫٬", "01234567890123456789.,")
_MULTIPLIERS = {"k": 1_000, "هزار": 1_000, "m": 1_000_000, "میلیون": 1_000_000}
_COUNTER = re.compile(r"(\d+(?:\.\d+)?)\s*(k|m|هزار|میلیون)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PageMessage:
    message_id: str
    text: str
    views: int | None


@dataclass(frozen=True, slots=True)
class ChannelPage:
    members: int | None = None
    messages: list[PageMessage] = field(default_factory=list)

    def views_of(self, message_ids: list[str]) -> dict[str, int]:
        wanted = set(message_ids)
        return {
            m.message_id: m.views for m in self.messages if m.message_id in wanted and m.views is not None
        }

    def find_text(self, text: str) -> PageMessage | None:
        """The newest message whose text is `text`, ignoring how the page lays out white space."""
        wanted = comparable(text)
        matches = [message for message in self.messages if comparable(message.text) == wanted]
        return max(matches, key=lambda message: int(message.message_id), default=None)


def comparable(text: str) -> str:
    """Text as the page and the API both keep it: NFC, no white space (the page turns newlines into
    `<br>`), no zero-width joiners the renderer may drop."""
    text = unicodedata.normalize("NFC", text)
    return re.sub(r"[\s\u200e\u200f]+", "", text)


def parse_counter(shown: str) -> int | None:
    """`1.2K` → 1200, `۱۲٫۵ هزار` → 12500, `۸۷۳` → 873, `1,204` → 1204; None if it is no number."""
    cleaned = shown.translate(_DIGITS).replace(",", "").strip()
    match = _COUNTER.search(cleaned)
    if match is None:
        return None
    multiplier = _MULTIPLIERS.get((match.group(2) or "").lower(), 1)
    return round(float(match.group(1)) * multiplier)


def parse_channel_page(html: str, channel: str | None = None) -> ChannelPage:
    """The member count and the messages (of `channel` only, when given) of one page."""
    tree = LexborHTMLParser(html)
    counter = tree.css_first(".etme_channel_info_counter .counter_value") or tree.css_first(".counter_value")
    members = parse_counter(counter.text()) if counter is not None else None
    wanted = channel.lstrip("@").lower() if channel else None
    messages = []
    for node in tree.css("div.etme_widget_message"):
        owner, message_id = _post_of(node)
        if message_id is None or (wanted is not None and owner not in {None, wanted}):
            continue
        views_node = node.css_first(".etme_widget_message_views")
        messages.append(
            PageMessage(
                message_id=message_id,
                text=_text(node.css_first(".etme_widget_message_text")),
                views=parse_counter(views_node.text()) if views_node is not None else None,
            )
        )
    return ChannelPage(members=members, messages=messages)


def _text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    for line_break in node.css("br"):
        line_break.replace_with("\n")
    return node.text(deep=True)


def _post_of(node: LexborNode) -> tuple[str | None, str | None]:
    """The channel and message id of a message: `data-post="<channel>/<id>"`, else its wrap's id."""
    owner, _, number = (node.attributes.get("data-post") or "").rpartition("/")
    if number.isdigit():
        return owner.lower() or None, number
    parent = node.parent
    wrap_id = parent.attributes.get("id") if parent is not None else None
    return None, wrap_id if wrap_id and wrap_id.isdigit() else None
