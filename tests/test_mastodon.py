"""Mastodon through the real Mastodon.py client, against the sandbox's Mastodon fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    PermanentError,
)
from adapters.mastodon import MastodonAdapter, MastodonCredentials, plain_text
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, Item, PostRef
from tests.support.faults import assert_no_secret as strict_no_secret

TOKEN = "mastodon-token-SECRET-0001"
PARTNER_TOKEN = "mastodon-token-SECRET-0002"


def delivery(
    text: str = "سلام ماستودون", action: Action = Action.PUBLISH, item_id: str = "news-1"
) -> Delivery:
    agency = "irna" if action is Action.PUBLISH else "mrud"
    return Delivery(
        id=Delivery.make_id(item_id, agency, "mastodon", action),
        item_id=item_id,
        agency=agency,
        platform="mastodon",
        action=action,
        origin_agency="irna",
        text=text,
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[MastodonAdapter]:
    instance = MastodonAdapter(api_base=sandbox.api_base("mastodon"), timeout_seconds=3)
    yield instance
    await instance.aclose()


def creds(token: str = TOKEN) -> MastodonCredentials:
    return MastodonCredentials(access_token=token, account="@irna@sandbox.social")


def assert_no_secret(error: BaseException | None) -> None:
    strict_no_secret(error, "SECRET")


async def test_publish_posts_once_and_a_resend_with_the_same_key_returns_it(
    sandbox: RunningSandbox, adapter: MastodonAdapter
) -> None:
    first = await adapter.publish(creds(), delivery())
    again = await adapter.publish(creds(), delivery())  # same delivery id: same Idempotency-Key

    [post] = sandbox.sandbox.posts_on("mastodon")
    assert post.text == "سلام ماستودون"
    assert first == again
    assert first.post_id == post.post_id
    assert first.url is not None and first.url.endswith(f"/{post.post_id}")
    assert adapter.instance_limits == {sandbox.api_base("mastodon"): 500}


async def test_boost_amplifies_and_is_idempotent(sandbox: RunningSandbox, adapter: MastodonAdapter) -> None:
    original = await adapter.publish(creds(), delivery())
    source = PostRef(platform="mastodon", agency="irna", post_id=original.post_id)

    boosted = await adapter.amplify(creds(PARTNER_TOKEN), delivery(action=Action.REPOST), source)
    again = await adapter.amplify(creds(PARTNER_TOKEN), delivery(action=Action.REPOST), source)

    posts = sandbox.sandbox.posts_on("mastodon")
    assert [post.action for post in posts] == ["publish", "boost"]
    assert posts[1].source_post_id == original.post_id
    assert boosted == again
    metrics = await adapter.metrics(creds(), [original.post_id, "404404"])
    assert list(metrics) == [original.post_id]
    assert metrics[original.post_id].reposts == 1


@pytest.mark.parametrize("action", [Action.FORWARD, Action.QUOTE, Action.COPY])
async def test_other_amplifications_are_refused(adapter: MastodonAdapter, action: Action) -> None:
    assert action not in adapter.amplify_actions
    with pytest.raises(PermanentError):
        await adapter.amplify(
            creds(), delivery(action=action), PostRef(platform="mastodon", agency="x", post_id="1")
        )


async def test_boost_of_a_missing_status_is_permanent(adapter: MastodonAdapter) -> None:
    source = PostRef(platform="mastodon", agency="irna", post_id="999")
    with pytest.raises(PermanentError, match="Record not found"):
        await adapter.amplify(creds(), delivery(action=Action.REPOST), source)


async def test_audience_reads_followers(adapter: MastodonAdapter) -> None:
    followers = await adapter.audience(creds())
    assert followers is not None and followers >= 500


async def test_too_long_for_the_server_is_permanent(adapter: MastodonAdapter) -> None:
    with pytest.raises(PermanentError, match="character limit of 500"):
        await adapter.publish(creds(), delivery("ب" * 501))


async def test_dropped_answer_is_ambiguous_then_reconciled(
    sandbox: RunningSandbox, adapter: MastodonAdapter
) -> None:
    sandbox.sandbox.add_fault("mastodon", Fault(kind="drop", path="/api/v1/statuses"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery("خبر <مهم> & فوری"))
    assert_no_secret(caught.value)

    found = await adapter.reconcile(creds(), delivery("خبر <مهم> & فوری"))
    [post] = sandbox.sandbox.posts_on("mastodon")
    assert found is not None and found.post_id == post.post_id
    assert await adapter.reconcile(creds(), delivery("another text")) is None
    # And a resend with the delivery's Idempotency-Key would not post twice either.
    assert (await adapter.publish(creds(), delivery("خبر <مهم> & فوری"))).post_id == post.post_id
    assert len(sandbox.sandbox.posts_on("mastodon")) == 1


async def test_slow_answer_is_ambiguous(sandbox: RunningSandbox) -> None:
    adapter = MastodonAdapter(api_base=sandbox.api_base("mastodon"), timeout_seconds=0.5)
    adapter.instance_limits[adapter.api_base] = 500  # skip the instance read, so the post is what is slow
    sandbox.sandbox.latency_ms["mastodon"] = 1_500
    try:
        with pytest.raises(AmbiguousError):
            await adapter.publish(creds(), delivery())
    finally:
        await adapter.aclose()


def test_measure_counts_urls_as_23() -> None:
    adapter = MastodonAdapter()
    assert adapter.measure("خبر https://example.com/" + "a" * 200) == 4 + 23


def test_render_uses_the_learned_instance_limit() -> None:
    adapter = MastodonAdapter()
    item = Item.model_validate({"agency": "irna", "text": "ب" * 600})
    with pytest.raises(Exception, match="limit of 500"):
        adapter.render(item)
    adapter.instance_limits["https://big.example"] = 5000
    assert adapter.render(item) == "ب" * 600


def test_credentials_hide_the_token() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        MastodonCredentials.model_validate({"access_token": "tok-SECRET", "instance_url": "ftp://x", "x": 1})
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(creds())
    assert MastodonAdapter().account_label(creds()) == "mastodon:@irna@sandbox.social"


def test_plain_text_of_status_html() -> None:
    assert plain_text("<p>a &amp; b</p><p>c<br />d</p>") == "a & b c d"
