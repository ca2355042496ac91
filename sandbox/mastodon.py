"""A fake Mastodon server (REST API v1/v2), as Mastodon.py 2.x calls it.

Mounted at `/mastodon/`, which is the `api_base_url` given to Mastodon.py. Tokens are any non-empty
Bearer token; the account is derived from it, so one token is always one account.

Shapes follow Mastodon 4.x: `Status` and `Account` entities, `{"error": "..."}` bodies, 422 for
validation failures (a status over the instance's character limit), 404 `Record not found`, and
`X-RateLimit-Limit/Remaining/Reset` on every answer, the reset as ISO-8601 (not epoch). The
`Idempotency-Key` header is honoured per account, as `post_status_service.rb` does: a repeat returns
the first status instead of posting again. Media attachments: `sandbox.mastodon_media`. A reblog of an already-reblogged status returns the
existing reblog, as Mastodon's `ReblogService` does.
"""

from __future__ import annotations

import html
import re
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from sandbox.mastodon_media import MastodonMedia, MediaProblem
from sandbox.server import DemoAccounts, Fake, Sandbox, SandboxPost, register_fake

HOST = "sandbox.social"
MAX_CHARACTERS = 500
URL_WEIGHT = 23  # Mastodon counts every URL as 23 characters, whatever its length
STATUSES_PER_3H = 300
URL = re.compile(r"https?://\S+")

Json = dict[str, Any]


class MastodonError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@register_fake
class MastodonFake(Fake):
    platform: ClassVar[str] = "mastodon"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "khz-roads": {
                "access_token": "demo-roads-mastodon-token",
                "account": "@khz_roads@sandbox.social",
            },
            "khz-rail": {"access_token": "demo-rail-mastodon-token", "account": "@south_rail@sandbox.social"},
        },
        amplify={"khz-transport-week": "boost"},
    )

    def __init__(self, sandbox: Sandbox, max_characters: int = MAX_CHARACTERS) -> None:
        super().__init__(sandbox)
        self.max_characters = max_characters
        self.status_limit = STATUSES_PER_3H
        self.idempotency: dict[tuple[str, str], str] = {}
        self.media = MastodonMedia(HOST, self.next_id)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/statuses", self._guard(self._post_status)),
            web.get("/api/v1/statuses/{id}", self._guard(self._get_status)),
            web.post("/api/v1/statuses/{id}/reblog", self._guard(self._reblog)),
            web.get("/api/v1/accounts/verify_credentials", self._guard(self._verify)),
            web.get("/api/v1/accounts/{id}/statuses", self._guard(self._account_statuses)),
            web.get("/api/v2/instance", self._guard(self._instance)),
            web.get("/api/v2/instance/", self._guard(self._instance)),  # as Mastodon.py asks
            web.post("/api/v2/media", self._guard(self._upload_media)),
            web.get("/api/v1/media/{id}", self._guard(self._read_media)),
        ]

    # --- error shapes ----------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> web.Response:
        if status == 401:
            message = "The access token is invalid"
        return self._json(status, {"error": message})

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        reset = datetime.now(UTC) + timedelta(seconds=reset_seconds)
        return self._json(429, {"error": "Too many requests"}, self._limit_headers(0, reset))

    # --- endpoints -------------------------------------------------------------------------------

    async def _post_status(self, request: web.Request) -> web.Response:
        account = self._account(request)
        params = await _params(request)
        text = str(params.get("status") or "")
        media_ids = [str(media_id) for media_id in params.get("media_ids[]") or params.get("media_ids") or []]
        if not text.strip() and not media_ids:
            raise MastodonError(422, "Validation failed: Text can't be blank")
        attachments = self.media.attach(account["id"], media_ids)
        length = len(URL.sub("x" * URL_WEIGHT, text))
        if length > self.max_characters:
            raise MastodonError(
                422, f"Validation failed: Text character limit of {self.max_characters} exceeded"
            )
        key = request.headers.get("Idempotency-Key")
        if key and (account["id"], key) in self.idempotency:
            return self._json(200, self._status(self._find(self.idempotency[(account["id"], key)])))
        self._spend(account["id"])
        post = self.record(
            account=account["id"],
            post_id=str(self.next_id()),
            action="publish",
            text=text,
            url=None,
            media=[attachment.id for attachment in attachments],
        )
        post.url = f"https://{HOST}/@{account['username']}/{post.post_id}"
        if key:
            self.idempotency[(account["id"], key)] = post.post_id
        return self._json(200, self._status(post))

    async def _upload_media(self, request: web.Request) -> web.Response:
        return await self.media.upload(self._account(request)["id"], request)

    async def _read_media(self, request: web.Request) -> web.Response:
        return self.media.read(self._account(request)["id"], request.match_info["id"])

    async def _reblog(self, request: web.Request) -> web.Response:
        account = self._account(request)
        original = self._find(request.match_info["id"])
        if original.action != "publish":
            raise MastodonError(422, "Validation failed: Reblog of status is not allowed")
        for post in self.sandbox.posts_on(self.platform):
            if (
                post.action == "boost"
                and post.account == account["id"]
                and post.source_post_id == original.post_id
            ):
                return self._json(200, self._status(post))
        self._spend(account["id"])
        post = self.record(
            account=account["id"],
            post_id=str(self.next_id()),
            action="boost",
            url=original.url,
            source_post_id=original.post_id,
        )
        return self._json(200, self._status(post))

    async def _get_status(self, request: web.Request) -> web.Response:
        self._account(request)
        return self._json(200, self._status(self._find(request.match_info["id"])))

    async def _verify(self, request: web.Request) -> web.Response:
        return self._json(200, self._account(request))

    async def _account_statuses(self, request: web.Request) -> web.Response:
        self._account(request)
        limit = min(int(request.query.get("limit", "20") or 20), 40)
        mine = [
            post for post in self.sandbox.posts_on(self.platform) if post.account == request.match_info["id"]
        ]
        newest = sorted(mine, key=lambda post: int(post.post_id), reverse=True)[:limit]
        return self._json(200, [self._status(post) for post in newest])

    async def _instance(self, request: web.Request) -> web.Response:
        return self._json(
            200,
            {
                "domain": HOST,
                "title": "Sandbox Mastodon",
                "version": "4.3.0",
                "configuration": {
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": URL_WEIGHT,
                    }
                },
            },
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.Response:
            try:
                response: web.Response = await handler(request)
            except MastodonError as error:
                return self._json(error.status, {"error": error.message}, error.headers or None)
            except MediaProblem as problem:
                return self._json(problem.status, {"error": problem.message})
            return response

        return guarded

    def _account(self, request: web.Request) -> Json:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            raise MastodonError(401, "The access token is invalid")
        account_id = str(100_000 + zlib.crc32(token.encode()) % 900_000)
        username = f"agency{account_id}"
        return {
            "id": account_id,
            "username": username,
            "acct": username,
            "display_name": f"Sandbox agency {account_id}",
            "url": f"https://{HOST}/@{username}",
            "followers_count": 500 + int(account_id) % 20_000,
            "following_count": 10,
            "statuses_count": sum(
                1 for post in self.sandbox.posts_on(self.platform) if post.account == account_id
            ),
            "created_at": "2023-01-01T00:00:00.000Z",
        }

    def _find(self, status_id: str) -> SandboxPost:
        for post in self.sandbox.posts_on(self.platform):
            if post.post_id == status_id:
                return post
        raise MastodonError(404, "Record not found")

    def _spend(self, account_id: str) -> None:
        """300 statuses (posts and reblogs) per account per 3 hours, as Mastodon's rack-attack."""
        window = time.time() - 3 * 3600
        recent = [
            p.at for p in self.sandbox.posts_on(self.platform) if p.account == account_id and p.at > window
        ]
        if len(recent) >= self.status_limit:
            reset = datetime.fromtimestamp(min(recent) + 3 * 3600, UTC)
            raise MastodonError(429, "Too many requests", self._limit_headers(0, reset))

    def _status(self, post: SandboxPost) -> Json:
        posts = self.sandbox.posts_on(self.platform)
        created = (
            datetime.fromtimestamp(post.at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        status: Json = {
            "id": post.post_id,
            "uri": f"https://{HOST}/users/x/statuses/{post.post_id}",
            "url": post.url,
            "created_at": created,
            "content": f"<p>{html.escape(post.text)}</p>" if post.text else "",
            "visibility": "public",
            "sensitive": False,
            "spoiler_text": "",
            "media_attachments": [
                self.media.attachments[media_id].entity(HOST)
                for media_id in post.media
                if media_id in self.media.attachments
            ],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": sum(
                1 for p in posts if p.action == "boost" and p.source_post_id == post.post_id
            ),
            "favourites_count": zlib.crc32(post.post_id.encode()) % 50,
            "replies_count": zlib.crc32(post.post_id.encode()) % 7,
            "account": {
                "id": post.account,
                "username": f"agency{post.account}",
                "acct": f"agency{post.account}",
            },
            "reblog": None,
            "application": None,
            "language": "fa",
        }
        if post.action == "boost" and post.source_post_id:
            status["reblog"] = self._status(self._find(post.source_post_id))
        return status

    def _limit_headers(self, remaining: int, reset: datetime) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        reset = datetime.now(UTC) + timedelta(minutes=5)
        merged = {**self._limit_headers(299, reset), **(headers or {})}
        return web.json_response(body, status=status, headers=merged)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form = await request.post()
    # Array parameters (`media_ids[]`) come as repeated fields.
    return {key: form.getall(key) if key.endswith("[]") else form[key] for key in form}
