"""Bluesky through the real `atproto` AsyncClient, against the sandbox's PDS fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    ContentError,
    PermanentError,
)
from adapters.bluesky import BlueskyAdapter, BlueskyCredentials, facets, record_key
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, Item, PostRef
from tests.support.faults import assert_no_secret as strict_no_secret

PASSWORD = "abcd-efgh-SECRET-ijkl"
LINK = "https://irna.ir/news/1"


def creds(handle: str = "irna.bsky.social") -> BlueskyCredentials:
    return BlueskyCredentials(handle=handle, app_password=PASSWORD)


def delivery(
    text: str = "سلام بلواسکای", action: Action = Action.PUBLISH, item_id: str = "news-1"
) -> Delivery:
    agency = "irna" if action is Action.PUBLISH else "mrud"
    return Delivery(
        id=Delivery.make_id(item_id, agency, "bluesky", action),
        item_id=item_id,
        agency=agency,
        platform="bluesky",
        action=action,
        origin_agency="irna",
        text=text,
        link=LINK if LINK in text else None,
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[BlueskyAdapter]:
    instance = BlueskyAdapter(api_base=sandbox.api_base("bluesky"), timeout_seconds=3)
    yield instance
    await instance.aclose()


def assert_no_secret(error: BaseException | None) -> None:
    strict_no_secret(error, "SECRET")


async def test_publish_creates_a_record_at_the_delivery_rkey(
    sandbox: RunningSandbox, adapter: BlueskyAdapter
) -> None:
    text = f"خبر مهم #ایران\n\n{LINK}"
    posted = await adapter.publish(creds(), delivery(text))

    [post] = sandbox.sandbox.posts_on("bluesky")
    rkey = record_key(delivery(text).id)
    assert posted.post_id == post.post_id and post.post_id.endswith(f"/app.bsky.feed.post/{rkey}")
    assert posted.url == f"https://bsky.app/profile/irna.bsky.social/post/{rkey}"
    fake = sandbox.sandbox.fakes["bluesky"]
    [stored] = [value["value"] for key, value in fake.records.items() if key[2] == rkey]  # type: ignore[attr-defined]
    features = [facet["features"][0]["$type"] for facet in stored["facets"]]
    assert sorted(features) == ["app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag"]


async def test_a_resend_finds_the_existing_record_instead_of_posting_twice(
    sandbox: RunningSandbox, adapter: BlueskyAdapter
) -> None:
    first = await adapter.publish(creds(), delivery())
    again = await adapter.publish(creds(), delivery())
    assert first == again
    assert len(sandbox.sandbox.posts_on("bluesky")) == 1


async def test_repost_amplifies_once_and_metrics_count_it(
    sandbox: RunningSandbox, adapter: BlueskyAdapter
) -> None:
    original = await adapter.publish(creds(), delivery())
    source = PostRef(platform="bluesky", agency="irna", post_id=original.post_id, url=original.url)

    reposted = await adapter.amplify(creds("mrud.bsky.social"), delivery(action=Action.REPOST), source)
    again = await adapter.amplify(creds("mrud.bsky.social"), delivery(action=Action.REPOST), source)

    posts = sandbox.sandbox.posts_on("bluesky")
    assert [post.action for post in posts] == ["publish", "repost"]
    assert posts[1].source_post_id == original.post_id
    assert reposted == again and reposted.url == original.url
    metrics = await adapter.metrics(creds(), [original.post_id, "at://did:plc:none/app.bsky.feed.post/x"])
    assert list(metrics) == [original.post_id]
    assert metrics[original.post_id].reposts == 1
    followers = await adapter.audience(creds())
    assert followers is not None and followers >= 300


@pytest.mark.parametrize("action", [Action.FORWARD, Action.QUOTE])
async def test_other_amplifications_are_refused(adapter: BlueskyAdapter, action: Action) -> None:
    with pytest.raises(PermanentError):
        await adapter.amplify(
            creds(), delivery(action=action), PostRef(platform="bluesky", agency="x", post_id="x")
        )


async def test_repost_of_a_missing_post_is_permanent(adapter: BlueskyAdapter) -> None:
    source = PostRef(platform="bluesky", agency="irna", post_id="at://did:plc:none/app.bsky.feed.post/abc")
    with pytest.raises(PermanentError, match="Could not locate record"):
        await adapter.amplify(creds(), delivery(action=Action.REPOST), source)


async def test_too_long_is_refused_by_the_pds(adapter: BlueskyAdapter) -> None:
    with pytest.raises(PermanentError, match="300 graphemes"):
        await adapter.publish(creds(), delivery("ب" * 301))


async def test_dropped_answer_is_ambiguous_then_reconciled(
    sandbox: RunningSandbox, adapter: BlueskyAdapter
) -> None:
    assert await adapter.reconcile(creds(), delivery()) is None  # surely absent: nothing at the rkey
    sandbox.sandbox.add_fault("bluesky", Fault(kind="drop", path="createRecord"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery())
    assert_no_secret(caught.value)

    found = await adapter.reconcile(creds(), delivery())
    [post] = sandbox.sandbox.posts_on("bluesky")
    assert found is not None and found.post_id == post.post_id


def test_record_key_is_a_stable_tid() -> None:
    key = record_key("news-1/irna/bluesky/publish")
    assert key == record_key("news-1/irna/bluesky/publish") != record_key("news-2/irna/bluesky/publish")
    assert len(key) == 13 and key[0] in "234567abcdefghij"


@pytest.mark.parametrize(
    ("text", "fits"),
    [("ب" * 300, True), ("ب" * 301, False), ("👨‍👩‍👧‍👦" * 300, True), ("👨‍👩‍👧‍👦" * 301, False)],
)
def test_render_counts_graphemes(text: str, fits: bool) -> None:
    item = Item.model_validate({"agency": "irna", "text": text})
    if fits:
        assert BlueskyAdapter().render(item) == text
    else:
        with pytest.raises(ContentError, match="over its limit of 300"):
            BlueskyAdapter().render(item)


def test_facets_use_utf8_byte_offsets() -> None:
    text = f"سلام #خبر {LINK}"
    [link, tag] = facets(text, LINK)
    assert text.encode()[link.index.byte_start : link.index.byte_end].decode() == LINK
    assert text.encode()[tag.index.byte_start : tag.index.byte_end].decode() == "#خبر"


def test_credentials_hide_the_password() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        BlueskyCredentials.model_validate({"handle": "a b", "app_password": "pw-SECRET", "extra": "x-SECRET"})
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(creds())
