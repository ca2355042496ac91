"""Telegram's public channel preview: views as reach, and ambiguous sends reconciled by their text.

The parser is tested on markup in t.me/s's shape; the adapter against the sandbox's preview page
over real HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters import AmbiguousError, CannotReconcile, Engagement
from adapters.bale import BaleAdapter
from adapters.telegram import TelegramAdapter
from adapters.telegram_preview import parse_count, parse_preview
from sandbox import Fault, RunningSandbox
from sandbox.telegram import TelegramFake
from sandbox.telegram_page import shown_count
from schemas import Action
from tests.test_botapi import CHANNEL, credentials, delivery, photo

PAGE = """<html><body><section class="tgme_channel_history js-message_history">
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="irna_news/41" data-view="x">
  <div class="tgme_widget_message_bubble">
   <div class="tgme_widget_message_text js-message_text" dir="auto">سطر اول<br/>سطر <b>دوم</b> <a href="?q=%23خبر">#خبر</a></div>
   <div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info">
    <span class="tgme_widget_message_views">1.2K</span><span class="copyonly"> views</span>
    <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/irna_news/41">
     <time datetime="2026-12-01T10:00:00+00:00" class="time">10:00</time></a></span>
   </div></div>
  </div>
 </div>
</div>
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message js-widget_message" data-post="someone_else/7">
  <div class="tgme_widget_message_text js-message_text">not ours</div>
  <span class="tgme_widget_message_views">5</span>
 </div>
</div>
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message js-widget_message" data-post="irna_news/42">
  <div class="tgme_widget_message_grouped_wrap"></div>
  <span class="tgme_widget_message_views">935</span>
 </div>
</div></section></body></html>"""


@pytest.mark.parametrize(
    ("shown", "count"),
    [("935", 935), ("1.2K", 1200), ("12K", 12000), ("3.4M", 3_400_000), ("", None), ("x", None)],
)
def test_counts_as_telegram_shows_them(shown: str, count: int | None) -> None:
    assert parse_count(shown) == count


@pytest.mark.parametrize(
    ("views", "shown", "read"),
    [(0, "0", 0), (999, "999", 999), (1000, "1K", 1000), (1234, "1.2K", 1200), (45_678, "45.7K", 45_700)],
)
def test_the_fake_shows_counts_as_telegram_does(views: int, shown: str, read: int) -> None:
    assert shown_count(views) == shown
    assert parse_count(shown) == read


def test_preview_posts_are_parsed_with_text_views_and_time() -> None:
    posts = parse_preview(PAGE, "@irna_news")

    assert [post.post_id for post in posts] == [41, 42]  # another channel's post is not ours
    first = posts[0]
    assert first.text == "سطر اول\nسطر دوم #خبر"
    assert first.views == 1200
    assert first.at is not None and first.at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert posts[1].text == "" and posts[1].views == 935


@pytest.fixture
async def telegram(sandbox: RunningSandbox) -> AsyncIterator[TelegramAdapter]:
    base = sandbox.api_base("telegram")
    adapter = TelegramAdapter(api_base=base, web_base=base, timeout_seconds=5)
    yield adapter
    await adapter.aclose()


def telegram_fake(sandbox: RunningSandbox) -> TelegramFake:
    fake = sandbox.sandbox.fakes["telegram"]
    assert isinstance(fake, TelegramFake)
    return fake


async def test_views_of_public_channel_posts_become_reach(
    sandbox: RunningSandbox, telegram: TelegramAdapter
) -> None:
    fake = telegram_fake(sandbox)
    fake.flood_limit_per_minute = None
    posted = [
        await telegram.publish(credentials(), delivery("telegram", text=f"خبر {n}\nخط دوم"))
        for n in range(45)
    ]
    chat = fake.chat_id_of("irna_news")
    fake.views[(chat, 3)] = 1_234  # shown as "1.2K"
    wanted = [posted[2].post_id, posted[30].post_id, posted[44].post_id, "999"]

    metrics = await telegram.metrics(credentials(), wanted)

    # Post 3 is two pages back (`?before=`), 999 does not exist.
    assert set(metrics) == {"3", "31", "45"}
    assert metrics["3"] == Engagement(views=1_200, impressions=1_200)
    for post_id in ("31", "45"):
        views = parse_count(shown_count(fake.views[(chat, int(post_id))]))
        assert metrics[post_id] == Engagement(views=views, impressions=views)


async def test_a_private_channel_has_no_views(sandbox: RunningSandbox, telegram: TelegramAdapter) -> None:
    posted = await telegram.publish(credentials(chat_id=-1001234), delivery("telegram"))
    assert await telegram.metrics(credentials(chat_id=-1001234), [posted.post_id]) == {}


async def test_an_ambiguous_send_to_a_public_channel_is_found_by_its_text(
    sandbox: RunningSandbox, telegram: TelegramAdapter
) -> None:
    await telegram.publish(credentials(), delivery("telegram", text="خبری دیگر"))
    sent = delivery("telegram", text="بازگشایی  جاده\nقم–تهران")
    sandbox.sandbox.add_fault("telegram", Fault(kind="drop"))
    with pytest.raises(AmbiguousError):
        await telegram.publish(credentials(), sent, [photo()])

    found = await telegram.reconcile(credentials(), sent)

    [_, post] = sandbox.sandbox.posts_on("telegram")
    assert found is not None and found.post_id == post.post_id == "2"
    assert found.url == "https://t.me/irna_news/2" and found.chat == CHANNEL


async def test_a_send_not_on_the_preview_stays_for_a_person(
    sandbox: RunningSandbox, telegram: TelegramAdapter
) -> None:
    # Not "absent": a request that timed out may still be carried out, and a resend would double it.
    await telegram.publish(credentials(), delivery("telegram", text="خبری دیگر"))
    with pytest.raises(CannotReconcile, match="does not show it"):
        await telegram.reconcile(credentials(), delivery("telegram", text="هرگز نرسید"))


@pytest.mark.parametrize(
    ("chat_id", "action", "why"),
    [(-1001234, Action.PUBLISH, "private channel"), (CHANNEL, Action.FORWARD, "forward")],
)
async def test_what_the_preview_cannot_settle_stays_unconfirmed(
    telegram: TelegramAdapter, chat_id: str | int, action: Action, why: str
) -> None:
    with pytest.raises(CannotReconcile, match=why):
        await telegram.reconcile(credentials(chat_id=chat_id), delivery("telegram", text="", action=action))


async def test_bale_has_no_public_preview_to_reconcile_with(sandbox: RunningSandbox) -> None:
    bale = BaleAdapter(api_base=sandbox.api_base("bale"))
    try:
        with pytest.raises(CannotReconcile):
            await bale.reconcile(credentials(), delivery("bale"))
    finally:
        await bale.aclose()
