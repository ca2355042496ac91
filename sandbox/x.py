"""A fake of X API v2, as tweepy 4.17 calls it with OAuth 1.0a user context.

Mounted at `/x/`, so tweepy's `https://api.twitter.com/2/tweets` is `{sandbox}/x/2/tweets` once the
client's session rewrites the host. Its state is the sandbox's post record, so `/_sandbox/reset`
forgets tweets, retweets and rate-limit windows alike.

Shapes follow captures of the real API: problem-JSON bodies (`title`, `detail`, `type`, `status`),
`application/json; charset=utf-8` on every response (tweepy parses error bodies as JSON and aiohttp
refuses other content types), and `x-rate-limit-*` headers with an epoch-seconds reset on every
response (tweepy's rate-limit handling spins without that header).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

import twitter_text
from aiohttp import web

from sandbox.server import DemoAccounts, Fake, ReachFigures, Sandbox, SandboxPost, register_fake
from sandbox.x_media import XMedia
from sandbox.x_problems import (
    INVALID_REQUEST,
    TOO_MANY_REQUESTS,
    XProblem,
    forbidden,
    invalid,
    json_response,
    not_found,
    unauthorized,
)

TWEET_URL = "https://x.com/i/web/status/{id}"
DUPLICATE_CONTENT = "You are not allowed to create a Tweet with duplicate content."
ALREADY_RETWEETED = "You have already retweeted this Tweet."
NOT_PERMITTED = "You are not permitted to perform this action."
WINDOW_SECONDS = 15 * 60
TIMELINE_LIMIT = 3200  # "up to 3,200 of the most recent Tweets" can be reached through the timeline
READ_LIMIT = 900

_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@register_fake
class XFake(Fake):
    """Tweets, quotes, retweets, metrics and a user's timeline, with X's limits and refusals."""

    platform: ClassVar[str] = "x"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            agency: {
                "consumer_key": "demo-ck",
                "consumer_secret": "demo-cs",
                "access_token": f"{user_id}-{short}-demo-token",
                "access_token_secret": "demo-ats",
            }
            for agency, user_id, short in (
                ("khz-roads", 1001, "roads"),
                ("khz-rail", 1002, "rail"),
                ("khz-ports", 1003, "ports"),
            )
        },
        amplify={"khz-transport-week": "retweet"},
    )

    def __init__(self, sandbox: Sandbox, tweet_limit: int = 100, retweet_limit: int = 50) -> None:
        super().__init__(sandbox)
        # X documents 100 tweets and 50 retweets per user per 15 minutes; tests lower these for 429s.
        self.tweet_limit = tweet_limit
        self.retweet_limit = retweet_limit
        self.media = XMedia(self.next_id, self._user)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/2/tweets", self._guard(self._create_tweet)),
            web.get("/2/tweets", self._guard(self._get_tweets)),
            web.post("/2/users/{user_id}/retweets", self._guard(self._retweet)),
            web.get("/2/users/me", self._guard(self._me)),
            web.get("/2/users/{user_id}/tweets", self._guard(self._user_tweets)),
            # After /2/users/me, which aiohttp matches first.
            web.get("/2/users/{user_id}", self._guard(self._get_user)),
            *self.media.routes(self._guard),
        ]

    # --- error shapes ----------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> web.Response:
        if status == 400:
            return self._problem(
                400,
                {
                    "errors": [{"parameters": {}, "message": message}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": INVALID_REQUEST,
                },
            )
        title = _REASONS.get(status, "Error")
        detail = title if status in {401, 503} else message
        return self._problem(
            status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
        )

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        reset = math.ceil(time.time() + reset_seconds)
        return json_response(
            429,
            TOO_MANY_REQUESTS,
            {
                "x-rate-limit-limit": str(self.tweet_limit),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            },
        )

    # --- endpoints -------------------------------------------------------------------------------

    async def _create_tweet(self, request: web.Request) -> web.Response:
        user_id = self._user(request)
        body = await self._body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise invalid("text", str(text), "The `text` field is required and must not be empty.")
        media = body.get("media")
        media_keys = self.media.attach(user_id, (media or {}).get("media_ids")) if media is not None else []
        parsed = twitter_text.parse_tweet(text)
        if not parsed.valid:
            # X answers an over-long tweet from a non-premium account with this bare 403.
            raise XProblem(403, forbidden(NOT_PERMITTED))
        quoted = body.get("quote_tweet_id")
        if quoted is not None:
            if "media" in body or "poll" in body:
                raise invalid(
                    "quote_tweet_id", str(quoted), "quote_tweet_id is mutually exclusive with media and poll."
                )
            if self._tweet(str(quoted)) is None:
                raise invalid("quote_tweet_id", str(quoted), f"The quoted Tweet {quoted} does not exist.")
        if any(post.text == text for post in self._tweets_by(user_id)):
            raise XProblem(403, forbidden(DUPLICATE_CONTENT))
        limit_headers = self._spend(user_id, ("publish", "quote"), self.tweet_limit)

        tweet_id = str(self.next_id())
        self.record(
            account=user_id,
            post_id=tweet_id,
            action="quote" if quoted is not None else "publish",
            text=text,
            url=TWEET_URL.format(id=tweet_id),
            source_post_id=str(quoted) if quoted is not None else None,
            media=media_keys,
        )
        data = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
        headers = {**limit_headers, "location": f"https://api.twitter.com/2/tweets/{tweet_id}"}
        return json_response(201, {"data": data}, headers)

    async def _retweet(self, request: web.Request) -> web.Response:
        user_id = self._user(request)
        if request.match_info["user_id"] != user_id:
            raise XProblem(403, forbidden(NOT_PERMITTED))
        body = await self._body(request)
        tweet_id = str(body.get("tweet_id", ""))
        if not tweet_id.isdigit():
            raise invalid("tweet_id", tweet_id, "The `tweet_id` field must be a numeric Tweet id.")
        if self._tweet(tweet_id) is None:
            raise XProblem(404, not_found(tweet_id, "tweet_id"))
        if any(
            post.action == "retweet" and post.account == user_id and post.source_post_id == tweet_id
            for post in self.sandbox.posts_on(self.platform)
        ):
            raise XProblem(403, forbidden(ALREADY_RETWEETED))
        limit_headers = self._spend(user_id, ("retweet",), self.retweet_limit)
        retweet_id = str(self.next_id())
        self.record(
            account=user_id,
            post_id=retweet_id,
            action="retweet",
            url=TWEET_URL.format(id=tweet_id),
            source_post_id=tweet_id,
        )
        return json_response(200, {"data": {"retweeted": True}}, limit_headers)

    async def _get_tweets(self, request: web.Request) -> web.Response:
        self._reader(request)
        ids = [tweet_id for tweet_id in request.query.get("ids", "").split(",") if tweet_id]
        if not ids or len(ids) > 100:
            raise invalid("ids", request.query.get("ids", ""), "`ids` takes 1 to 100 comma-separated ids.")
        fields = self._fields(request)
        found: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for tweet_id in ids:
            post = self._tweet(tweet_id)
            if post is None:
                errors.append(not_found(tweet_id, "ids"))
            else:
                found.append(self._tweet_json(post, fields))
        body: dict[str, Any] = {}
        if found:
            body["data"] = found
        if errors:
            body["errors"] = errors
        return json_response(200, body, self._read_headers())

    async def _user_tweets(self, request: web.Request) -> web.Response:
        """GET /2/users/:id/tweets as X documents it: newest first, `max_results` 5–100 a page,
        `pagination_token` from the previous page's `meta.next_token`, `start_time` (ISO 8601, UTC)
        as the oldest moment wanted, and only the 3,200 most recent tweets reachable at all."""
        self._reader(request)
        user_id = request.match_info["user_id"]
        raw_max = request.query.get("max_results", "10")
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            raise invalid("max_results", raw_max, "`max_results` must be a number between 5 and 100.")
        fields = self._fields(request)
        newest_first = sorted(self._tweets_by(user_id), key=lambda post: int(post.post_id), reverse=True)
        reachable = newest_first[:TIMELINE_LIMIT]
        raw_start = request.query.get("start_time")
        if raw_start is not None:
            try:
                start = datetime.fromisoformat(raw_start.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise invalid("start_time", raw_start, "Invalid 'start_time':'" + raw_start + "'.") from None
            reachable = [post for post in reachable if post.at >= start]
        token = request.query.get("pagination_token")
        offset = 0
        if token is not None:
            match = re.fullmatch(r"7140dibdnow9c7btw4([0-9]{1,6})", token)
            if match is None:
                raise invalid(
                    "pagination_token", token, "The `pagination_token` query parameter value is not valid."
                )
            offset = int(match.group(1))
        page = reachable[offset : offset + int(raw_max)]
        meta: dict[str, Any] = {"result_count": len(page)}
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [self._tweet_json(post, fields) for post in page]
            meta["newest_id"] = page[0].post_id
            meta["oldest_id"] = page[-1].post_id
        if offset + int(raw_max) < len(reachable):
            meta["next_token"] = f"7140dibdnow9c7btw4{offset + int(raw_max)}"
        return json_response(200, body, self._read_headers())

    async def _me(self, request: web.Request) -> web.Response:
        user_id = self._user(request)
        data = {"id": user_id, "name": f"Sandbox user {user_id}", "username": f"sandbox_{user_id}"}
        return json_response(200, {"data": data}, self._read_headers())

    async def _get_user(self, request: web.Request) -> web.Response:
        self._reader(request)
        user_id = request.match_info["user_id"]
        if not user_id.isdigit():
            raise invalid("id", user_id, "The `id` query parameter value is not valid.")
        data: dict[str, Any] = {
            "id": user_id,
            "name": f"Sandbox user {user_id}",
            "username": f"sandbox_{user_id}",
        }
        fields = {field for field in request.query.get("user.fields", "").split(",") if field}
        if "public_metrics" in fields:
            data["public_metrics"] = self.user_metrics(user_id)
        return json_response(200, {"data": data}, self._read_headers())

    def reach_figures(self) -> ReachFigures:
        """Engagement of every own tweet (retweets have none of their own) and the followers behind
        every post."""
        posts = self.sandbox.posts_on(self.platform)
        own = [self._metrics(post.post_id) for post in posts if post.action in {"publish", "quote"}]
        return ReachFigures(
            impressions=sum(metrics["impression_count"] for metrics in own),
            likes=sum(metrics["like_count"] for metrics in own),
            reposts=sum(metrics["retweet_count"] for metrics in own),
            replies=sum(metrics["reply_count"] for metrics in own),
            quotes=sum(metrics["quote_count"] for metrics in own),
            potential_reach=sum(self.user_metrics(post.account)["followers_count"] for post in posts),
        )

    def user_metrics(self, user_id: str) -> dict[str, int]:
        """Stable per user, so that reach figures computed from it are reproducible."""
        seed = int.from_bytes(hashlib.sha256(f"user:{user_id}".encode()).digest()[:8], "big")
        return {
            "followers_count": 500 + seed % 200_000,
            "following_count": (seed >> 20) % 2_000,
            "tweet_count": len(self._tweets_by(user_id)) + (seed >> 32) % 10_000,
            "listed_count": (seed >> 40) % 300,
        }

    # --- helpers ---------------------------------------------------------------------------------

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.Response:
            try:
                response: web.Response = await handler(request)
            except XProblem as problem:
                return self._problem(problem.status, problem.body, problem.headers)
            return response

        return guarded

    def _user(self, request: web.Request) -> str:
        """The user id an OAuth 1.0a request acts as: the digits before '-' in its access token."""
        header = request.headers.get("Authorization", "")
        scheme, _, params = header.partition(" ")
        if scheme != "OAuth":
            raise XProblem(401, unauthorized())
        # Signatures are not checked: tweepy signs the real host's URL, not the sandbox's.
        oauth = {key: unquote(value) for key, value in _OAUTH_PARAM.findall(params)}
        user_id, dash, rest = oauth.get("oauth_token", "").partition("-")
        if not (user_id.isdigit() and dash and rest and oauth.get("oauth_consumer_key")):
            raise XProblem(401, unauthorized())
        return user_id

    def _reader(self, request: web.Request) -> None:
        """Reads accept user context or an app-only bearer token, as X's do."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if not header.removeprefix("Bearer ").strip():
                raise XProblem(401, unauthorized())
            return
        self._user(request)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise invalid("body", "", "The request body must be a JSON object.")
        return body

    def _spend(self, user_id: str, actions: tuple[str, ...], limit: int) -> dict[str, str]:
        """Counts one write in the user's 15-minute window, or refuses it with X's 429."""
        now = time.time()
        in_window = [
            post.at
            for post in self.sandbox.posts_on(self.platform)
            if post.account == user_id and post.action in actions and post.at > now - WINDOW_SECONDS
        ]
        reset = math.ceil((min(in_window) if in_window else now) + WINDOW_SECONDS)
        if len(in_window) >= limit:
            raise XProblem(
                429,
                TOO_MANY_REQUESTS,
                {
                    "x-rate-limit-limit": str(limit),
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(reset),
                },
            )
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(limit - len(in_window) - 1),
            "x-rate-limit-reset": str(reset),
        }

    def _read_headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(READ_LIMIT),
            "x-rate-limit-remaining": str(READ_LIMIT - 1),
            "x-rate-limit-reset": str(math.ceil(time.time() + WINDOW_SECONDS)),
        }

    def _tweets_by(self, user_id: str) -> list[SandboxPost]:
        return [
            post
            for post in self.sandbox.posts_on(self.platform)
            if post.account == user_id and post.action in {"publish", "quote"}
        ]

    def _tweet(self, tweet_id: str) -> SandboxPost | None:
        for post in self.sandbox.posts_on(self.platform):
            if post.post_id == tweet_id and post.action in {"publish", "quote"}:
                return post
        return None

    @staticmethod
    def _fields(request: web.Request) -> set[str]:
        return {field for field in request.query.get("tweet.fields", "").split(",") if field}

    def _tweet_json(self, post: SandboxPost, fields: set[str]) -> dict[str, Any]:
        tweet: dict[str, Any] = {
            "id": post.post_id,
            "text": post.text,
            "edit_history_tweet_ids": [post.post_id],
        }
        if "author_id" in fields:
            tweet["author_id"] = post.account
        if "created_at" in fields:
            tweet["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(post.at))
        if "public_metrics" in fields:
            tweet["public_metrics"] = self._metrics(post.post_id)
        return tweet

    def _metrics(self, tweet_id: str) -> dict[str, int]:
        """Retweets and quotes as the sandbox saw them; the rest stable pseudo-random numbers."""
        posts = self.sandbox.posts_on(self.platform)
        retweets = sum(1 for post in posts if post.action == "retweet" and post.source_post_id == tweet_id)
        quotes = sum(1 for post in posts if post.action == "quote" and post.source_post_id == tweet_id)
        seed = int.from_bytes(hashlib.sha256(tweet_id.encode()).digest()[:8], "big")
        impressions = 200 + seed % 5000 + 150 * (retweets + quotes)
        return {
            "retweet_count": retweets,
            "reply_count": seed % 7,
            "like_count": impressions // 40 + (seed >> 8) % 10,
            "quote_count": quotes,
            "bookmark_count": (seed >> 16) % 5,
            "impression_count": impressions,
        }

    def _problem(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(status, body, {**self._read_headers(), **(headers or {})})
