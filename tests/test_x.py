"""The X adapter through the real tweepy client, against the sandbox's X fake over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pydantic
import pytest

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    ContentError,
    DeliveryError,
    PermanentError,
    RetryableError,
)
from adapters.base import Posted, RateLimitedError
from adapters.x import XAdapter, XCredentials, comparable
from sandbox import Fault, RunningSandbox
from sandbox.x import XFake
from schemas import Action, Delivery, Item, PostRef
from tests.support.faults import assert_no_secret as strict_no_secret

SECRETS = {
    "consumer_key": "ck-consumer-SECRET",
    "consumer_secret": "cs-consumer-SECRET",
    "access_token": "4242-access-SECRET",
    "access_token_secret": "as-access-SECRET",
}
PARTNER_SECRETS = {**SECRETS, "access_token": "5151-partner-SECRET"}
SECRET_VALUES = [*SECRETS.values(), "access-SECRET", *PARTNER_SECRETS.values(), "partner-SECRET"]


@pytest.fixture
async def x(sandbox: RunningSandbox) -> AsyncIterator[XAdapter]:
    adapter = XAdapter(api_base=sandbox.api_base("x"), timeout_seconds=5)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def agency() -> XCredentials:
    return XCredentials.model_validate(SECRETS)


@pytest.fixture
def partner() -> XCredentials:
    return XCredentials.model_validate(PARTNER_SECRETS)


def delivery(text: str, action: Action = Action.PUBLISH, item_id: str = "news-1") -> Delivery:
    agency = "roads" if action == Action.PUBLISH else "ports"
    return Delivery(
        id=Delivery.make_id(item_id, agency, "x", action),
        item_id=item_id,
        agency=agency,
        platform="x",
        action=action,
        origin_agency="roads",
        text=text,
    )


def assert_no_secret(error: BaseException | None) -> None:
    strict_no_secret(error, *SECRET_VALUES)


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("سلام", 4),
        ("ا" * 280, 280),
        ("https://example.com/a/very/long/path/that/is/surely/longer/than/23?q=1", 23),
        ("خبر https://example.com", 4 + 23),
        ("👍", 2),
        ("👨‍👩‍👧‍👦", 2),
        ("نیم‌فاصله", 9),  # the ZWNJ counts 1, like a letter
    ],
)
def test_measure_weighs_like_x(text: str, weighted: int) -> None:
    assert XAdapter().measure(text) == weighted


@pytest.mark.parametrize(
    ("body", "link", "fits"),
    [
        ("ا" * 280, None, True),
        ("ا" * 281, None, False),
        # body, blank line, then a link that counts 23 however long it is: 255 + 2 + 23 = 280.
        ("ا" * 255, "https://example.com/" + "long/" * 40, True),
        ("ا" * 256, "https://example.com/" + "long/" * 40, False),
    ],
)
def test_render_keeps_within_280_weighted(body: str, link: str | None, fits: bool) -> None:
    item = Item.model_validate({"agency": "roads", "text": body, "link": link})
    if fits:
        assert XAdapter().measure(XAdapter().render(item)) <= 280
    else:
        with pytest.raises(ContentError, match="over its limit of 280"):
            XAdapter().render(item)


# --- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        {"access_token": "no-user-id-SECRET"},
        {"access_token": "4242SECRET"},
        {"access_token": "4242-"},
        {"consumer_secret": ""},
        {"bearer_token": "bearer-SECRET"},
    ],
)
def test_credentials_refuse_malformed_without_echoing_them(broken: dict[str, str]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        XCredentials.model_validate({**SECRETS, **broken})
    shown = str(caught.value)
    for value in [*SECRETS.values(), *broken.values()]:
        if value:
            assert value not in shown


def test_credentials_never_show_in_repr_or_label(agency: XCredentials) -> None:
    adapter = XAdapter()
    assert adapter.account_label(agency) == "x:4242"
    for secret in SECRETS.values():
        assert secret not in repr(agency)
    assert adapter.secret_fields == frozenset(SECRETS)


# --- deliveries ----------------------------------------------------------------------------------


async def test_publish_posts_once_and_the_sandbox_lists_it(
    x: XAdapter, agency: XCredentials, sandbox: RunningSandbox
) -> None:
    text = "افتتاح آزادراه جدید\n\n#حمل_و_نقل\n\nhttps://example.ir/news/1"
    posted = await x.publish(agency, delivery(text))

    [post] = sandbox.sandbox.posts_on("x")
    assert (post.post_id, post.account, post.action, post.text) == (posted.post_id, "4242", "publish", text)
    assert posted.url == f"https://x.com/i/web/status/{posted.post_id}"


async def test_retweet_and_quote_point_at_the_source(
    x: XAdapter, agency: XCredentials, partner: XCredentials, sandbox: RunningSandbox
) -> None:
    original = await x.publish(agency, delivery("خبر اصلی"))
    source = PostRef(platform="x", agency="roads", post_id=original.post_id, url=original.url)

    retweeted = await x.amplify(partner, delivery("", Action.REPOST), source)
    quoted = await x.amplify(partner, delivery("بخوانید", Action.QUOTE), source)

    assert retweeted == Posted(post_id=f"rt-{original.post_id}", url=original.url)
    by_action = {post.action: post for post in sandbox.sandbox.posts_on("x")}
    assert by_action["retweet"].account == "5151"
    assert by_action["retweet"].source_post_id == original.post_id
    assert by_action["quote"].post_id == quoted.post_id
    assert by_action["quote"].source_post_id == original.post_id


async def test_retweeting_again_is_the_same_success_and_no_second_retweet(
    x: XAdapter, agency: XCredentials, partner: XCredentials, sandbox: RunningSandbox
) -> None:
    original = await x.publish(agency, delivery("خبر"))
    source = PostRef(platform="x", agency="roads", post_id=original.post_id)

    first = await x.amplify(partner, delivery("", Action.REPOST), source)
    second = await x.amplify(partner, delivery("", Action.REPOST), source)

    assert first == second
    assert [post.action for post in sandbox.sandbox.posts_on("x")] == ["publish", "retweet"]


@pytest.mark.parametrize("action", [Action.PUBLISH, Action.QUOTE])
async def test_duplicate_text_reconciles_to_the_existing_post(
    x: XAdapter, agency: XCredentials, partner: XCredentials, sandbox: RunningSandbox, action: Action
) -> None:
    source = PostRef(
        platform="x", agency="roads", post_id=(await x.publish(agency, delivery("منبع"))).post_id
    )
    account = agency if action == Action.PUBLISH else partner

    async def send() -> Posted:
        if action == Action.PUBLISH:
            return await x.publish(account, delivery("همان متن"))
        return await x.amplify(account, delivery("همان متن", action), source)

    first = await send()
    again = await send()

    assert again == first
    assert [post.text for post in sandbox.sandbox.posts_on("x")].count("همان متن") == 1


async def test_duplicate_refused_but_out_of_reach_is_for_a_person_to_check(
    x: XAdapter, agency: XCredentials, sandbox: RunningSandbox
) -> None:
    await x.publish(agency, delivery("قدیمی"))
    fake = sandbox.sandbox.fakes["x"]
    for n in range(3200):  # newer tweets push it past the 3,200 X lets anyone page through
        fake.record(account="4242", post_id=str(fake.next_id()), action="publish", text=f"خبر {n}")

    # It may be our own earlier post: never resent, never called rejected, but unconfirmed.
    with pytest.raises(CannotReconcile, match="duplicate") as caught:
        await x.publish(agency, delivery("قدیمی"))
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("fault", "expected", "detail"),
    [
        pytest.param(Fault(kind="error", status=503), RetryableError, "503", id="503"),
        pytest.param(Fault(kind="error", status=500), RetryableError, "500", id="500"),
        pytest.param(Fault(kind="error", status=400), PermanentError, "400", id="400"),
        pytest.param(Fault(kind="error", status=403), PermanentError, "403", id="403"),
        pytest.param(Fault(kind="error", status=404), PermanentError, "404", id="404"),
        pytest.param(Fault(kind="rate_limit", reset_seconds=30), RateLimitedError, "429", id="rate-limit"),
        pytest.param(Fault(kind="auth"), AuthError, "401", id="auth"),
        pytest.param(Fault(kind="drop"), AmbiguousError, "after the request was sent", id="drop"),
    ],
)
@pytest.mark.parametrize("action", [Action.PUBLISH, Action.QUOTE, Action.REPOST])
async def test_each_platform_failure_maps_to_its_typed_error(
    x: XAdapter,
    agency: XCredentials,
    partner: XCredentials,
    sandbox: RunningSandbox,
    fault: Fault,
    expected: type[DeliveryError],
    detail: str,
    action: Action,
) -> None:
    source = PostRef(
        platform="x", agency="roads", post_id=(await x.publish(agency, delivery("منبع"))).post_id
    )
    sandbox.sandbox.add_fault("x", fault)

    with pytest.raises(expected, match=detail) as caught:
        if action == Action.PUBLISH:
            await x.publish(agency, delivery("خبر تازه"))
        else:
            await x.amplify(partner, delivery("خبر تازه", action), source)

    assert type(caught.value) is expected
    assert_no_secret(caught.value)
    if isinstance(caught.value, RateLimitedError):
        now = datetime.now(UTC)
        assert now < caught.value.reset_at <= now + timedelta(seconds=32)
    # Only a dropped response hides a request that X carried out.
    landed = [
        post
        for post in sandbox.sandbox.posts_on("x")
        if post.action == x.label_of(action) and post.post_id != source.post_id
    ]
    assert len(landed) == (1 if fault.kind == "drop" else 0)


@pytest.mark.parametrize("action", [Action.PUBLISH, Action.QUOTE])
async def test_after_a_dropped_response_reconcile_finds_the_post(
    x: XAdapter, agency: XCredentials, sandbox: RunningSandbox, action: Action
) -> None:
    source = PostRef(
        platform="x", agency="roads", post_id=(await x.publish(agency, delivery("منبع"))).post_id
    )
    lost = delivery("متن با پیوند https://example.ir/a?b=1 & نماد", action)
    sandbox.sandbox.add_fault("x", Fault(kind="drop", path="/2/tweets"))

    with pytest.raises(AmbiguousError):
        if action == Action.PUBLISH:
            await x.publish(agency, lost)
        else:
            await x.amplify(agency, lost, source)

    [committed] = [post for post in sandbox.sandbox.posts_on("x") if post.text == lost.text]
    found = await x.reconcile(agency, lost)
    assert found == Posted(post_id=committed.post_id, url=f"https://x.com/i/web/status/{committed.post_id}")
    assert await x.reconcile(agency, delivery("هرگز فرستاده نشد", action)) is None


async def test_reconcile_looks_back_by_time_to_the_claim_across_pages(
    x: XAdapter, agency: XCredentials, sandbox: RunningSandbox
) -> None:
    fake = sandbox.sandbox.fakes["x"]
    now = time.time()
    claimed = datetime.fromtimestamp(now - 600, tz=UTC)
    for n in range(50):  # before the claim: never read
        fake.record(
            account="4242", post_id=str(fake.next_id()), action="publish", text=f"پیش {n}", at=now - 3600
        )
    ours = fake.record(
        account="4242", post_id=str(fake.next_id()), action="publish", text="گمشده", at=now - 590
    )
    for n in range(250):  # an account that tweeted 250 times since: the old 100-tweet look missed it
        fake.record(
            account="4242", post_id=str(fake.next_id()), action="publish", text=f"پس {n}", at=now - 300
        )
    lost = delivery("گمشده").model_copy(update={"claimed_at": claimed})
    found = await x.reconcile(agency, lost)
    assert found is not None and found.post_id == ours.post_id
    absent = delivery("هرگز نرفت").model_copy(update={"claimed_at": claimed})
    assert await x.reconcile(agency, absent) is None  # every tweet since the claim was seen


async def test_reconcile_says_unknown_when_x_cannot_show_back_to_the_claim(
    x: XAdapter, agency: XCredentials, sandbox: RunningSandbox
) -> None:
    fake = sandbox.sandbox.fakes["x"]
    now = time.time()
    for n in range(3300):  # more than X's 3,200-tweet window since the claim
        fake.record(
            account="4242", post_id=str(fake.next_id()), action="publish", text=f"سیل {n}", at=now - 60
        )
    lost = delivery("دیده نمی‌شود").model_copy(
        update={"claimed_at": datetime.fromtimestamp(now - 120, tz=UTC)}
    )
    with pytest.raises(CannotReconcile, match="3200"):
        await x.reconcile(agency, lost)


async def test_a_retweet_is_never_reconciled_as_resending_is_safe(
    x: XAdapter, agency: XCredentials, partner: XCredentials, sandbox: RunningSandbox
) -> None:
    source = PostRef(
        platform="x", agency="roads", post_id=(await x.publish(agency, delivery("منبع"))).post_id
    )
    retweet = delivery("", Action.REPOST)
    sandbox.sandbox.add_fault("x", Fault(kind="drop", path="/retweets"))

    with pytest.raises(AmbiguousError):
        await x.amplify(partner, retweet, source)
    assert await x.reconcile(partner, retweet) is None
    resent = await x.amplify(partner, retweet, source)

    assert resent.post_id == f"rt-{source.post_id}"
    assert [post.action for post in sandbox.sandbox.posts_on("x")] == ["publish", "retweet"]


@pytest.mark.parametrize(
    ("case", "expected", "detail"),
    [
        ("text over 280 sent unrendered", PermanentError, "not permitted"),
        ("retweet of a tweet that does not exist", PermanentError, "Could not find tweet"),
        ("quote of a tweet that does not exist", PermanentError, "does not exist"),
        ("over the 15-minute posting limit", RateLimitedError, "Too Many Requests"),
    ],
)
async def test_refusals_of_the_fake_itself(
    x: XAdapter,
    agency: XCredentials,
    sandbox: RunningSandbox,
    case: str,
    expected: type[DeliveryError],
    detail: str,
) -> None:
    missing = PostRef(platform="x", agency="roads", post_id="1")
    with pytest.raises(expected, match=detail) as caught:
        if case.startswith("text over"):
            await x.publish(agency, delivery("ا" * 281))
        elif case.startswith("retweet"):
            await x.amplify(agency, delivery("", Action.REPOST), missing)
        elif case.startswith("quote"):
            await x.amplify(agency, delivery("نقل", Action.QUOTE), missing)
        else:
            fake = sandbox.sandbox.fakes["x"]
            assert isinstance(fake, XFake)
            fake.tweet_limit = 2
            for n in range(3):
                await x.publish(agency, delivery(f"خبر {n}"))
    assert_no_secret(caught.value)
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.reset_at > datetime.now(UTC) + timedelta(minutes=14)


async def test_a_timeout_is_ambiguous_for_a_post_and_retryable_for_a_read(
    sandbox: RunningSandbox, agency: XCredentials
) -> None:
    sandbox.sandbox.latency_ms["x"] = 1500
    adapter = XAdapter(api_base=sandbox.api_base("x"), timeout_seconds=0.3)
    try:
        with pytest.raises(AmbiguousError, match="TimeoutError") as posting:
            await adapter.publish(agency, delivery("خبر"))
        with pytest.raises(RetryableError, match="TimeoutError") as reading:
            await adapter.reconcile(agency, delivery("خبر"))
    finally:
        await adapter.aclose()
    assert_no_secret(posting.value)
    assert_no_secret(reading.value)


async def test_metrics_count_the_sandbox_retweets(
    x: XAdapter, agency: XCredentials, partner: XCredentials
) -> None:
    original = await x.publish(agency, delivery("خبر پربازدید"))
    await x.amplify(
        partner, delivery("", Action.REPOST), PostRef(platform="x", agency="roads", post_id=original.post_id)
    )

    # Metrics are not an adapter call yet; tweepy's own client checks the fake's shape.
    client = x._client(agency)
    response = await client.get_tweets(
        ids=[original.post_id, "1"], tweet_fields=["public_metrics"], user_auth=True
    )

    [tweet] = response.data
    assert tweet.public_metrics["retweet_count"] == 1
    assert tweet.public_metrics["impression_count"] > 0
    assert response.errors[0]["resource_id"] == "1"


@pytest.mark.parametrize(
    ("ours", "as_x_returns"),
    [
        ("خبر https://example.ir/news/1?utm=x", "خبر https://t.co/AbCdEf123"),
        ("راه & ریل <ویژه>", "راه &amp; ریل &lt;ویژه&gt;"),
        ("خط اول\n\n#برچسب", "خط اول\n\n#برچسب"),
    ],
)
def test_reconcile_compares_text_as_x_rewrites_it(ours: str, as_x_returns: str) -> None:
    assert comparable(ours) == comparable(as_x_returns)
    assert comparable(ours) != comparable(ours + " بیشتر")


OAUTH = 'OAuth oauth_consumer_key="ck", oauth_nonce="n", oauth_signature="s%3D", oauth_token="{token}"'


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(None, 401, id="no header"),
        pytest.param("Bearer app-token", 401, id="app-only bearer cannot post"),
        pytest.param(OAUTH.format(token="not-numeric"), 401, id="token without a user id"),
        pytest.param(OAUTH.format(token="4242"), 401, id="token without its secret half"),
        pytest.param(OAUTH.format(token="4242-abc"), 201, id="user context"),
    ],
)
async def test_the_fake_answers_in_x_shape(
    sandbox: RunningSandbox, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.api_base('x')}/2/tweets", json={"text": "سلام"}, headers=headers) as response,
    ):
        body = await response.json()
    assert response.status == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert int(response.headers["x-rate-limit-reset"]) > datetime.now(UTC).timestamp()
    if status == 201:
        assert body["data"]["edit_history_tweet_ids"] == [body["data"]["id"]]
        assert response.headers["location"].endswith(f"/2/tweets/{body['data']['id']}")
    else:
        assert body == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }
