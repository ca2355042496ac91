"""The public web preview of a fake Telegram channel, `/s/{channel}[?before=id]`, in the shape of
t.me/s: one `tgme_widget_message_wrap` per post, with `data-post`, the text, the views and the time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

PAGE_SIZE = 20


def shown_count(views: int) -> str:
    """Views as Telegram shows them: 935, 1.2K, 3.4M."""
    if views < 1_000:
        return str(views)
    if views < 1_000_000:
        return f"{views / 1_000:.1f}".rstrip("0").rstrip(".") + "K"
    return f"{views / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def shown_value(views: int) -> int:
    """The number a reader of the page gets back from `shown_count` ("1.2K" → 1200)."""
    shown = shown_count(views)
    scale = {"K": 1_000, "M": 1_000_000}.get(shown[-1], 1)
    return round(float(shown.rstrip("KM")) * scale)


def message_html(username: str, message: dict[str, Any], views: int) -> str:
    post = f"{username}/{message['message_id']}"
    text = str(message.get("text") or message.get("caption") or "")
    when = datetime.fromtimestamp(int(message["date"]), UTC)
    body = "<br/>".join(escape(line) for line in text.split("\n"))
    photos = "".join(
        '<a class="tgme_widget_message_photo_wrap" style="background-image:url(\'https://cdn4.telesco.pe/file/x.jpg\')"></a>'
        for _ in message.get("photo", [])[:1]
    )
    forwarded = ""
    origin = message.get("forward_origin")
    if isinstance(origin, dict):
        source = origin.get("chat", {}).get("title", "")
        forwarded = (
            '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
            f'<a class="tgme_widget_message_forwarded_from_name"><span>{escape(source)}</span></a></div>'
        )
    return f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap">
  <div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{escape(post)}" data-view="eyJjIjotMTAw">
    <div class="tgme_widget_message_user"><a href="https://t.me/{escape(username)}"></a></div>
    <div class="tgme_widget_message_bubble">
      {forwarded}{photos}
      <div class="tgme_widget_message_text js-message_text" dir="auto">{body}</div>
      <div class="tgme_widget_message_footer compact js-message_footer">
        <div class="tgme_widget_message_info short js-message_info">
          <span class="tgme_widget_message_views">{shown_count(views)}</span><span class="copyonly"> views</span>
          <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/{escape(post)}"><time datetime="{when.isoformat()}" class="time">{when:%H:%M}</time></a></span>
        </div>
      </div>
    </div>
  </div>
</div>"""


def channel_page(username: str, title: str, posts: Iterable[tuple[dict[str, Any], int]]) -> str:
    """The page: the channel's header, then its posts oldest first, as t.me/s lists them."""
    messages = "".join(message_html(username, message, views) for message, views in posts)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)} – Telegram</title>
<meta property="og:title" content="{escape(title)}"></head>
<body class="widget_frame_base tgme_webpage">
<header class="tgme_header"><div class="tgme_header_title">{escape(title)}</div></header>
<main class="tgme_main"><section class="tgme_channel_history js-message_history">{messages}
</section></main></body></html>"""
