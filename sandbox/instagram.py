"""A fake of Instagram: the Graph API's content publishing, and the public web pages instaloader reads.

Mounted at `/instagram/`:
- Graph API at `/instagram/<version>/…` (the adapter's `api_base` replaces `https://graph.facebook.com`):
  `POST /{ig-user-id}/media` (a container: `image_url`, or `video_url` with `media_type=REELS|VIDEO`,
  or `media_type=CAROUSEL` with `children`), `GET /{container-id}?fields=status_code` (video
  containers are `IN_PROGRESS` for the first `video_polls` reads, then `FINISHED`),
  `POST /{ig-user-id}/media_publish?creation_id=…`, `GET /{ig-user-id}/content_publishing_limit`,
  `GET /{ig-user-id}/media`, `GET /{media-id}`. Errors use Graph's envelope
  `{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}`.
  Media must be at a public URL: Meta fetches it, so a loopback or private address fails with
  code 9004 / subcode 2207052, as Meta's does. Throttling answers code 80002 with an
  `X-Business-Use-Case-Usage` header whose `estimated_time_to_regain_access` is in minutes.
- The web at `/instagram/www.instagram.com/…`: the home page with the `LSD` token, `api/graphql`
  answering instaloader's post query (doc_id 27128499623469141), and profile pages embedding
  `xig_user_by_username`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web

from sandbox.server import DemoAccounts, Fake, Sandbox, register_fake

POST_QUERY_DOC_ID = "27128499623469141"
SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
Json = dict[str, Any]


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.subcode, self.headers = (
            status,
            code,
            message,
            subcode,
            headers or {},
        )


@dataclass
class Container:
    id: str
    owner: str
    kind: str  # IMAGE | VIDEO | REELS | CAROUSEL
    caption: str
    urls: list[str]
    children: list[str] = field(default_factory=list)
    is_carousel_item: bool = False
    polls_left: int = 0
    status_code: str = "FINISHED"
    media_id: str | None = None


def shortcode_of(media_id: str) -> str:
    number, code = int(media_id), ""
    while number:
        number, digit = divmod(number, 64)
        code = SHORTCODE_ALPHABET[digit] + code
    return code or "A"


@register_fake
class InstagramFake(Fake):
    platform: ClassVar[str] = "instagram"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "qom-governorate": {
                "ig_user_id": "17841400000001101",
                "access_token": "demo-qom-gov-instagram-token",
                "username": "qom_ostandari",
            },
        },
    )

    def __init__(self, sandbox: Sandbox, quota_total: int = 50, video_polls: int = 2) -> None:
        super().__init__(sandbox)
        self.quota_total = quota_total  # Meta's pages say 50 (or 25, or 100) per 24 h: configurable
        self.video_polls = video_polls
        self.containers: dict[str, Container] = {}
        self.usernames: dict[str, str] = {}  # ig user id → username, learnt from tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/www.instagram.com/", self._home),
            web.post("/www.instagram.com/api/graphql", self._web_graphql),
            web.get("/www.instagram.com/{username}/", self._profile_page),
            web.post("/{version:v[0-9.]+}/{node}/media", self._guard(self._create_container)),
            web.post("/{version:v[0-9.]+}/{node}/media_publish", self._guard(self._publish)),
            web.get("/{version:v[0-9.]+}/{node}/content_publishing_limit", self._guard(self._limit)),
            web.get("/{version:v[0-9.]+}/{node}/media", self._guard(self._list_media)),
            web.get("/{version:v[0-9.]+}/{node}", self._guard(self._node)),
        ]

    # --- error shapes ----------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> web.Response:
        if status == 401:
            return self._graph_error(
                GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            )
        if status >= 500:
            return self._graph_error(
                GraphError(status, 2, "An unexpected error has occurred. Please retry your request later.")
            )
        return self._graph_error(GraphError(status, 100, f"Invalid parameter ({message})"))

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        return self._graph_error(self._throttled(reset_seconds))

    def _throttled(self, reset_seconds: float) -> GraphError:
        usage = {
            "17841400000000000": [
                {
                    "type": "instagram",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 30,
                    "estimated_time_to_regain_access": math.ceil(reset_seconds / 60),
                }
            ]
        }
        return GraphError(
            400,
            80002,
            "There have been too many calls to this Instagram account.",
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )

    def _graph_error(self, error: GraphError) -> web.Response:
        body: Json = {
            "message": error.message,
            "type": "OAuthException",
            "code": error.code,
            "is_transient": error.code in {1, 2},
            "fbtrace_id": secrets.token_urlsafe(8),
        }
        if error.subcode is not None:
            body["error_subcode"] = error.subcode
        return web.json_response({"error": body}, status=error.status, headers=error.headers)

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.Response:
            try:
                self._authorize(request)
                response: web.Response = await handler(request, await self._params(request))
            except GraphError as error:
                return self._graph_error(error)
            return response

        return guarded

    # --- Graph API -------------------------------------------------------------------------------

    async def _create_container(self, request: web.Request, params: Json) -> web.Response:
        owner = request.match_info["node"]
        media_type = str(params.get("media_type") or "IMAGE").upper()
        caption = str(params.get("caption") or "")
        if len(caption) > 2200:
            raise GraphError(400, 100, "Param caption must be at most 2200 characters long.", 2207010)
        carousel_item = str(params.get("is_carousel_item", "")).lower() == "true"
        if media_type == "CAROUSEL":
            children = [child for child in str(params.get("children") or "").split(",") if child]
            if not 2 <= len(children) <= 10:
                raise GraphError(400, 100, "Carousels take 2 to 10 children.", 2207028)
            for child in children:
                found = self.containers.get(child)
                if found is None or not found.is_carousel_item or found.status_code != "FINISHED":
                    raise GraphError(400, 9007, "Media ID is not available", 2207027)
            container = Container(self._id(), owner, "CAROUSEL", caption, [], children)
        elif media_type in {"REELS", "VIDEO"}:
            url = self._public(params.get("video_url"))
            polls = self.video_polls
            container = Container(self._id(), owner, media_type, caption, [url], polls_left=polls)
            container.status_code = "IN_PROGRESS" if polls else "FINISHED"
        else:
            container = Container(
                self._id(), owner, "IMAGE", caption, [self._public(params.get("image_url"))]
            )
        container.is_carousel_item = carousel_item
        self.containers[container.id] = container
        return web.json_response({"id": container.id})

    async def _publish(self, request: web.Request, params: Json) -> web.Response:
        owner = request.match_info["node"]
        container = self.containers.get(str(params.get("creation_id") or ""))
        if container is None or container.owner != owner:
            raise GraphError(400, 100, "Unsupported post request. Object with ID does not exist.", 33)
        if container.status_code == "PUBLISHED":
            # What Meta answers here is unverified; this fake refuses, like a used container.
            raise GraphError(400, 9004, "The container has already been published.", 2207008)
        if container.status_code != "FINISHED":
            raise GraphError(400, 9007, "Media ID is not available", 2207027)
        if self._usage(owner) >= self.quota_total:
            raise GraphError(
                400, 9, "Application request limit reached: You reached maximum number of posts.", 2207042
            )
        media_id = str(self.next_id())
        container.status_code, container.media_id = "PUBLISHED", media_id
        urls = [url for child in container.children for url in self.containers[child].urls] or container.urls
        self.record(
            account=owner,
            post_id=media_id,
            action="publish",
            text=container.caption,
            url=f"https://www.instagram.com/p/{shortcode_of(media_id)}/",
            media=urls,
        )
        return web.json_response({"id": media_id})

    async def _limit(self, request: web.Request, params: Json) -> web.Response:
        usage = self._usage(request.match_info["node"])
        return web.json_response(
            {
                "data": [
                    {
                        "quota_usage": usage,
                        "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                    }
                ]
            }
        )

    async def _list_media(self, request: web.Request, params: Json) -> web.Response:
        owner = request.match_info["node"]
        limit = int(params.get("limit") or 25)
        mine = [post for post in self.sandbox.posts_on(self.platform) if post.account == owner]
        newest = sorted(mine, key=lambda post: int(post.post_id), reverse=True)[:limit]
        return web.json_response({"data": [self._media(post.post_id) for post in newest], "paging": {}})

    async def _node(self, request: web.Request, params: Json) -> web.Response:
        node = request.match_info["node"]
        container = self.containers.get(node)
        if container is not None:
            if container.status_code == "IN_PROGRESS":
                container.polls_left -= 1
                if container.polls_left <= 0:
                    container.status_code = "FINISHED"
                return web.json_response({"id": node, "status_code": "IN_PROGRESS", "status": "In Progress"})
            return web.json_response({"id": node, "status_code": container.status_code})
        return web.json_response(self._media(node))

    def _media(self, media_id: str) -> Json:
        for post in self.sandbox.posts_on(self.platform):
            if post.post_id == media_id:
                return {
                    "id": media_id,
                    "caption": post.text,
                    "shortcode": shortcode_of(media_id),
                    "permalink": post.url,
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(post.at)),
                    "media_type": "CAROUSEL_ALBUM" if len(post.media) > 1 else "IMAGE",
                }
        raise GraphError(
            400, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist.", 33
        )

    # --- the web, for instaloader ----------------------------------------------------------------

    async def _home(self, request: web.Request) -> web.Response:
        page = '<html><script>["LSD",[],{"token":"sandboxLSD"}]; {"IG_USER_EIMU":"567067343352427"}</script></html>'
        response = web.Response(text=page, content_type="text/html")
        response.set_cookie("csrftoken", "sandboxcsrf")
        return response

    async def _web_graphql(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("doc_id") != POST_QUERY_DOC_ID:
            return web.json_response({"message": "unknown query", "status": "fail"}, status=400)
        shortcode = json.loads(str(form.get("variables") or "{}")).get("shortcode", "")
        post = next(
            (p for p in self.sandbox.posts_on(self.platform) if shortcode_of(p.post_id) == shortcode), None
        )
        if post is None:
            return web.json_response({"data": {"xdt_api__v1__media__shortcode__web_info": {"items": []}}})
        seed = zlib.crc32(post.post_id.encode())
        video = any(url.endswith((".mp4", ".mov")) for url in post.media)
        media: Json = {
            "code": shortcode,
            "pk": post.post_id,
            "id": f"{post.post_id}_{post.account}",
            "media_type": 2 if video else 1,
            "taken_at": int(post.at),
            "user": {
                "pk": post.account,
                "id": post.account,
                "username": self._username(post.account),
                "full_name": "",
            },
            "like_count": 100 + seed % 900,
            "comment_count": seed % 40,
            "caption": {"text": post.text},
            "image_versions2": {
                "candidates": [{"url": "https://example.invalid/a.jpg", "width": 1080, "height": 1080}]
            },
            "original_width": 1080,
            "original_height": 1080,
        }
        if video:
            media.update(
                view_count=5000 + seed % 10_000,
                play_count=6000 + seed % 10_000,
                video_duration=30.0,
                video_versions=[{"url": "https://example.invalid/v.mp4", "type": 101}],
            )
        return web.json_response({"data": {"xdt_api__v1__media__shortcode__web_info": {"items": [media]}}})

    async def _profile_page(self, request: web.Request) -> web.Response:
        username = request.match_info["username"]
        user_id = str(17841400000000000 + zlib.crc32(username.encode()))
        user = {
            "pk": user_id,
            "id": user_id,
            "username": username,
            "full_name": username,
            "follower_count": 10_000 + zlib.crc32(username.encode()) % 90_000,
            "following_count": 50,
            "media_count": 0,
            "is_private": False,
            "is_verified": True,
            "biography": "",
        }
        embedded = {
            "require": [
                ["ScheduledServerJS", {"__bbox": {"result": {"data": {"xig_user_by_username": user}}}}]
            ]
        }
        page = f'<html><script type="application/json">{json.dumps(embedded)}</script></html>'
        return web.Response(text=page, content_type="text/html")

    # --- helpers ---------------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        token = token or request.query.get("access_token", "")
        if not token:
            raise GraphError(
                400, 190, "An active access token must be used to query information about the current user."
            )

    async def _params(self, request: web.Request) -> Json:
        params: Json = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                params.update(await request.post())
        return params

    def _public(self, url: Any) -> str:
        parsed = urlsplit(str(url or ""))
        host = parsed.hostname or ""
        private = host in {"localhost", ""}
        try:
            address = ipaddress.ip_address(host)
            private = private or address.is_private or address.is_loopback
        except ValueError:
            pass
        if parsed.scheme not in {"http", "https"} or private:
            raise GraphError(
                400, 9004, "Media download has failed. The media URI doesn't meet our requirements.", 2207052
            )
        return str(url)

    def _usage(self, owner: str) -> int:
        day_ago = time.time() - 86400
        return sum(
            1 for post in self.sandbox.posts_on(self.platform) if post.account == owner and post.at > day_ago
        )

    def _username(self, user_id: str) -> str:
        return self.usernames.get(user_id, f"agency_{user_id[-6:]}")

    def _id(self) -> str:
        return str(self.next_id())
