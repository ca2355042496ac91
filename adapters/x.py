"""X (Twitter) through tweepy's `AsyncClient`, with OAuth 1.0a user context.

Pictures (up to 4, with alt text) or one GIF or video go up first through X's v2 media upload
(`adapters.x_media`, as tweepy has none) and ride on the tweet as `media.media_ids`.
Amplification is a retweet. A quote-post is supported for accounts whose plan still has it
(Enterprise: X took quotes off self-serve tiers in 2026-04), never a default; likes are never
automated (X requires them to be user-initiated).

`AsyncClient` hard-codes `https://api.twitter.com`; every request goes through one aiohttp session
per adapter whose client middleware moves it onto `api_base` (the sandbox, or a proxy), path prefix
included. OAuth signatures stay computed for the real URL, which is what X would verify.

X has no idempotency key. A tweet whose response was lost is found again in the account's recent
tweets (`reconcile`), and resending identical text is refused with 403 "duplicate content", which
`publish` turns back into the existing post. A retweet is naturally idempotent: X answers a second
one with 403 "already retweeted".
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, timedelta
from typing import Any, ClassVar

import aiohttp
import twitter_text
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tweepy.asynchronous import AsyncClient
from yarl import URL

from adapters import register
from adapters.base import (
    Adapter,
    CannotReconcile,
    Engagement,
    LazySession,
    MediaFile,
    MediaKind,
    PermanentError,
    Posted,
)
from adapters.x_errors import AlreadyRetweeted, DuplicateContent, translate
from adapters.x_media import XMediaUpload
from schemas import Action, Delivery, PostRef

X_HOST = "https://api.twitter.com"
TWEET_URL = "https://x.com/i/web/status/{id}"
# X's user timeline: at most 100 tweets a page, and only the newest 3,200 reachable by paging.
PAGE_SIZE = 100
TIMELINE_LIMIT = 3200
CLOCK_SKEW = timedelta(minutes=2)  # our clock against X's created_at


class XCredentials(BaseModel):
    """An account's OAuth 1.0a keys: the app's consumer pair and the user's access pair."""

    # Validation errors would otherwise quote the rejected value, which is a secret.
    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=True
    )

    consumer_key: str = Field(min_length=1, repr=False)
    consumer_secret: str = Field(min_length=1, repr=False)
    access_token: str = Field(min_length=1, repr=False)
    access_token_secret: str = Field(min_length=1, repr=False)

    @field_validator("access_token")
    @classmethod
    def _is_user_token(cls, value: str) -> str:
        # tweepy takes the acting user's id from this prefix without asking X, so it must be there.
        user_id, dash, rest = value.partition("-")
        if not (user_id.isdigit() and dash and rest):
            raise ValueError("access_token must look like '<numeric user id>-<token>', as X issues them")
        return value

    @property
    def user_id(self) -> str:
        return self.access_token.partition("-")[0]


@register
class XAdapter(Adapter[XCredentials]):
    """Publish, retweet and quote on X; reconcile a lost publish or quote from the user timeline."""

    platform: ClassVar[str] = "x"
    title: ClassVar[str] = "ایکس (توییتر)"
    name: ClassVar[str] = "X"
    short_form: ClassVar[bool] = True
    credentials_model: ClassVar[type[BaseModel]] = XCredentials
    default_api_base: ClassVar[str] = X_HOST
    # `intent`: the partner's approver is sent X's web intent to repost by hand (likes are never
    # automated, and X's 2026 policy wants reposts user-initiated where they are not informational).
    amplify_labels: ClassVar[Mapping[Action, str]] = {
        Action.REPOST: "retweet",
        Action.QUOTE: "quote",
        Action.INTENT: "intent",
    }
    text_limit: ClassVar[int] = 280
    # POST /2/tweets: 100 requests per 15 minutes per user (developer.x.com, 2025).
    rate_limit: ClassVar[str | None] = "100/15 minutes"
    # docs.x.com media best practices: up to 4 images of 5 MB (JPEG, PNG, WebP; GIF up to 15 MB, one
    # a post), or one video of up to 512 MB.
    media_limit: ClassVar[int] = 4
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {
        "image": 5 * 1024 * 1024,
        "video": 512 * 1024 * 1024,
    }
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    )
    # GET /2/tweets takes up to 100 ids and returns each tweet's public_metrics.
    supports_metrics: ClassVar[bool] = True
    metrics_batch_size: ClassVar[int] = 100

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        # A bounded connect phase raises ConnectionTimeoutError: a request that never left.
        self._http = LazySession(
            self.timeout_seconds,
            connect_seconds=10.0,
            middlewares=() if self.api_base == X_HOST else (self._redirect_to_api_base(),),
        )
        self._clients: dict[XCredentials, AsyncClient] = {}

    def measure(self, text: str) -> int:
        """X's weighted length: links 23, Persian letters 1, emoji and CJK 2 (twitter-text v3)."""
        return int(twitter_text.parse_tweet(text).weightedLength)

    def account_label(self, credentials: XCredentials) -> str:
        return f"x:{credentials.user_id}"

    # --- deliveries ------------------------------------------------------------------------------

    async def publish(
        self, credentials: XCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        # Never more than X takes (the media step hands over at most `media_limit` already).
        media = media[: self.media_limit]
        self.check_media(media)
        media_ids = await self._upload(credentials, media) if media else None
        try:
            return await self._tweet(credentials, delivery.text, media_ids=media_ids)
        except DuplicateContent:
            return await self._already_posted(credentials, delivery)

    def intent_url(self, source: PostRef) -> str | None:
        return f"https://x.com/intent/retweet?tweet_id={source.post_id}"

    async def amplify(
        self, credentials: XCredentials, delivery: Delivery, source: PostRef, media: Sequence[MediaFile] = ()
    ) -> Posted:
        if delivery.action == Action.INTENT:
            raise PermanentError("an intent is sent to the partner's approver, never called on X")
        if delivery.action == Action.QUOTE:
            try:
                return await self._tweet(credentials, delivery.text, quote_tweet_id=source.post_id)
            except DuplicateContent:
                return await self._already_posted(credentials, delivery)
        if delivery.action == Action.REPOST:
            # X gives a retweet no id of its own in v2; one retweet per source per account makes this unique.
            # "Already retweeted" means an earlier attempt of ours went through: the same success.
            with suppress(AlreadyRetweeted):
                await self._call(credentials, lambda client: client.retweet(source.post_id, user_auth=True))
            return Posted(post_id=f"rt-{source.post_id}", url=TWEET_URL.format(id=source.post_id))
        return await super().amplify(credentials, delivery, source)

    async def reconcile(self, credentials: XCredentials, delivery: Delivery) -> Posted | None:
        """The account's tweet with this delivery's text since the call was claimed, if any.

        Looks back by time, not by count: the user timeline from `claimed_at` (less two minutes of
        clock skew) on, page after page (`pagination_token`), so an account that tweeted hundreds of
        times since is still searched to the claim. "Absent" only when every tweet since the claim
        was seen; when X cannot show that far (its 3,200-tweet window) or the claim time is unknown
        and the account has more than X shows, it is CannotReconcile: a person decides.

        Texts are compared after `comparable()`: X returns links rewritten to t.co and `&<>` HTML-
        escaped, so links count as equal whatever they point to and entities are decoded first.
        A retweet is never reconciled: resending it is harmless, as X refuses a second one.
        """
        if delivery.action == Action.REPOST:
            return None
        wanted = comparable(delivery.text)
        since = delivery.claimed_at - CLOCK_SKEW if delivery.claimed_at else None
        start_time = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
        token: str | None = None
        seen = 0
        for _ in range(TIMELINE_LIMIT // PAGE_SIZE):
            response = await self._call(
                credentials, self._timeline_page(credentials, start_time, token), write=False
            )
            for tweet in response.data or []:
                if comparable(tweet.text) == wanted:
                    return Posted(post_id=str(tweet.id), url=TWEET_URL.format(id=tweet.id))
            seen += len(response.data or [])
            token = (response.meta or {}).get("next_token")
            if token is None:
                break
        if token is None and seen < TIMELINE_LIMIT:
            return None  # every tweet since the claim (or ever) was seen: surely absent
        reach = "since the call was made" if since else "(the call's time is unknown)"
        raise CannotReconcile(
            f"the account has more tweets {reach} than X lets anyone page through ({TIMELINE_LIMIT})"
        )

    @staticmethod
    def _timeline_page(
        credentials: XCredentials, start_time: str | None, token: str | None
    ) -> Callable[[AsyncClient], Awaitable[Any]]:
        def page(client: AsyncClient) -> Awaitable[Any]:
            return client.get_users_tweets(  # type: ignore[no-any-return]
                id=credentials.user_id,
                max_results=PAGE_SIZE,
                start_time=start_time,
                pagination_token=token,
                user_auth=True,
            )

        return page

    # --- reach -----------------------------------------------------------------------------------

    async def metrics(self, credentials: XCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        """Public metrics of up to 100 tweets in one GET /2/tweets; retweets (`rt-…`) have none."""
        ids = [post_id for post_id in post_ids if post_id.isdigit()][: self.metrics_batch_size]
        if not ids:
            return {}
        response = await self._call(
            credentials,
            lambda client: client.get_tweets(ids, tweet_fields=["public_metrics"], user_auth=True),
            write=False,
        )
        found: dict[str, Engagement] = {}
        for tweet in response.data or []:
            public: dict[str, Any] = tweet.public_metrics or {}
            found[str(tweet.id)] = Engagement(
                impressions=public.get("impression_count"),
                likes=public.get("like_count"),
                reposts=public.get("retweet_count"),
                replies=public.get("reply_count"),
                quotes=public.get("quote_count"),
            )
        return found

    async def audience(self, credentials: XCredentials) -> int | None:
        """The account's followers, from GET /2/users/{id}?user.fields=public_metrics."""
        response = await self._call(
            credentials,
            lambda client: client.get_user(
                id=credentials.user_id, user_fields=["public_metrics"], user_auth=True
            ),
            write=False,
        )
        public = getattr(response.data, "public_metrics", None) or {}
        followers = public.get("followers_count")
        return int(followers) if followers is not None else None

    async def aclose(self) -> None:
        self._clients.clear()
        await self._http.close()

    # --- plumbing --------------------------------------------------------------------------------

    async def _tweet(
        self,
        credentials: XCredentials,
        text: str,
        quote_tweet_id: str | None = None,
        media_ids: list[str] | None = None,
    ) -> Posted:
        response = await self._call(
            credentials,
            lambda client: client.create_tweet(
                text=text, quote_tweet_id=quote_tweet_id, media_ids=media_ids, user_auth=True
            ),
        )
        tweet_id = str(response.data["id"])
        return Posted(post_id=tweet_id, url=TWEET_URL.format(id=tweet_id))

    async def _upload(self, credentials: XCredentials, media: Sequence[MediaFile]) -> list[str]:
        keys = (
            credentials.consumer_key,
            credentials.consumer_secret,
            credentials.access_token,
            credentials.access_token_secret,
        )
        return await XMediaUpload(X_HOST, self._http.get, self.timeout_seconds).upload(keys, media)

    async def _already_posted(self, credentials: XCredentials, delivery: Delivery) -> Posted:
        try:
            existing = await self.reconcile(credentials, delivery)
        except CannotReconcile:
            existing = None
        if existing is None:
            # It may be ours, further back than anything X shows: a person must look.
            raise CannotReconcile(
                "X refused the text as a duplicate of an earlier tweet of this account, "
                "and none of the tweets X shows matches it"
            )
        return existing

    async def _call(
        self,
        credentials: XCredentials,
        operation: Callable[[AsyncClient], Awaitable[Any]],
        write: bool = True,
    ) -> Any:
        """Runs one tweepy call, turning whatever it raises into this package's typed errors.

        The typed error is raised outside the `except` block so that it carries no `__context__`:
        tweepy's exceptions hold the request, Authorization header included.
        """
        client = self._client(credentials)
        try:
            return await operation(client)
        except Exception as error:
            failure = await translate(error, write=write)
            if failure is None:
                raise
        raise failure

    def _client(self, credentials: XCredentials) -> AsyncClient:
        client = self._clients.get(credentials)
        if client is None:
            client = AsyncClient(
                consumer_key=credentials.consumer_key,
                consumer_secret=credentials.consumer_secret,
                access_token=credentials.access_token,
                access_token_secret=credentials.access_token_secret,
                # A 429 pauses only this account, by the deliver service; tweepy would block the worker.
                wait_on_rate_limit=False,
            )
            self._clients[credentials] = client
        client.session = self._http.get()
        return client

    def _redirect_to_api_base(self) -> aiohttp.ClientMiddlewareType:
        api_base = self.api_base

        async def redirect(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            original = str(request.url)
            if original.startswith(X_HOST + "/"):
                # tweepy's URL is already percent-encoded (and signed as such): move it verbatim.
                moved = URL(api_base + original[len(X_HOST) :], encoded=True)
                request.url = moved
                if moved.host_port_subcomponent:
                    request.headers["Host"] = moved.host_port_subcomponent
            return await handler(request)

        return redirect


def comparable(text: str) -> str:
    """Text reduced to what survives X's rewriting: entities decoded, links blanked, spaces collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    for url in reversed(twitter_text.extract_urls_with_indices(text)):
        start, end = url["indices"]
        text = f"{text[:start]}\x00{text[end:]}"
    return " ".join(text.split())
