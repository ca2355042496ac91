"""One item, each platform's text within its own rule (adapters.base.fit_text and each `measure`)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import Adapter, ContentError, load_adapters
from schemas import Item

LINK = "https://irna.ir/news/1404/very/long/path/" + "segment/" * 10
WORD = "خبرگزاری "
ADAPTERS = load_adapters()
# platform → (limit for a text post, limit with a picture, whether media is required)
RULES = {
    "x": (280, 280, False),
    "bluesky": (300, 300, False),
    "telegram": (4096, 1024, False),
    "bale": (4096, 1024, False),
    "eitaa": (4096, 4096, False),
    "mastodon": (500, 500, False),
    "instagram": (2200, 2200, True),
}
MEDIA = [{"url": "https://irna.ir/a.jpg"}]


def adapter(platform: str) -> Adapter[Any]:
    return ADAPTERS[platform]()


def item(text: str, *, link: str | None = LINK, media: bool = False, **fields: Any) -> Item:
    return Item.model_validate(
        {"agency": "irna", "text": text, "link": link, "media": MEDIA if media else [], **fields}
    )


def test_every_platform_has_a_rule() -> None:
    assert set(RULES) <= set(ADAPTERS)


@pytest.mark.parametrize(
    ("platform", "with_media"),
    # A platform that posts only with media has no text-only case.
    [(p, media) for p in sorted(RULES) for media in (False, True) if media or not RULES[p][2]],
)
def test_too_long_with_a_link_is_cut_at_a_word_keeping_link_and_tags(platform: str, with_media: bool) -> None:
    text_limit, media_limit, _ = RULES[platform]
    limit = media_limit if with_media else text_limit
    body = (WORD * (limit // 4)).strip()
    rendered = adapter(platform).render(item(body, media=with_media, tags=["هفته حمل و نقل"]))

    assert adapter(platform).measure(rendered) <= limit
    first, tags, link = rendered.split("\n\n")
    assert first.endswith("خبرگزاری…")  # a whole word, then the ellipsis
    assert body.startswith(first.removesuffix("…"))
    assert tags == "#هفته_حمل_و_نقل" and link == LINK


@pytest.mark.parametrize("platform", sorted(RULES))
def test_too_long_without_a_link_is_a_content_error(platform: str) -> None:
    text_limit, _, needs_media = RULES[platform]
    body = "ب" * (text_limit + 1)
    with pytest.raises(
        ContentError, match=rf"over its limit of {text_limit}; shorten it or give overrides\.{platform}\.text"
    ):
        adapter(platform).render(item(body, link=None, media=needs_media))


@pytest.mark.parametrize("platform", sorted(RULES))
def test_an_override_is_used_as_is_and_never_cut(platform: str) -> None:
    text_limit, _, needs_media = RULES[platform]
    fits = item("ب" * (text_limit * 2), link=None, media=needs_media, overrides={platform: {"text": "کوتاه"}})
    assert adapter(platform).render(fits) == "کوتاه"
    too_long = item("کوتاه", media=needs_media, overrides={platform: {"text": WORD * text_limit}})
    with pytest.raises(ContentError, match="over its"):
        adapter(platform).render(too_long)


@pytest.mark.parametrize("platform", sorted(RULES))
def test_text_that_fits_is_untouched(platform: str) -> None:
    _, _, needs_media = RULES[platform]
    rendered = adapter(platform).render(item("سلام", media=needs_media, tags=["ایران"]))
    assert rendered == f"سلام\n\n#ایران\n\n{LINK}"


def test_x_counts_the_link_as_23_when_cutting() -> None:
    rendered = adapter("x").render(item(WORD * 60))
    assert adapter("x").measure(rendered) <= 280
    assert len(rendered) > 280  # the long link itself counts 23


def test_a_link_and_tags_that_leave_no_room_are_a_content_error() -> None:
    tags = [f"برچسب{n}" for n in range(30)]
    with pytest.raises(ContentError, match="no room"):
        adapter("x").render(item(WORD * 100, tags=tags))


def test_instagram_needs_media_and_drops_tags_over_five() -> None:
    with pytest.raises(ContentError, match="picture or video"):
        adapter("instagram").render(item("سلام"))
    rendered = adapter("instagram").render(item("سلام", media=True, tags=list("abcdefg")))
    assert rendered.split("\n\n")[1] == "#a #b #c #d #e"
