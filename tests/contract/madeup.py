"""A made-up platform, "Kabootar" (کبوتر), defined wholly in the test package: an adapter over
aiohttp and its sandbox fake. Registering both is all it takes to join the contract suite, the demo
network and the report; services/ and schemas/ are not touched."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

import adapters
import sandbox.server
from adapters import (
    Adapter,
    AmbiguousError,
    AuthError,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from adapters.base import LazySession
from sandbox import DemoAccounts, Fake, Sandbox, SandboxPost
from schemas import Action, Delivery, PostRef

PLATFORM = "kabootar"


class KabootarCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    token: str = Field(min_length=1, repr=False)
    handle: str


class KabootarAdapter(Adapter[KabootarCredentials]):
    platform: ClassVar[str] = PLATFORM
    title: ClassVar[str] = "کبوتر"
    name: ClassVar[str] = "Kabootar"
    credentials_model = KabootarCredentials
    default_api_base = "https://api.kabootar.example"
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.REPOST: "reflight"}
    text_limit: ClassVar[int] = 1000
    media_limit: ClassVar[int] = 1
    secret_fields = frozenset({"token"})

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._session = LazySession(timeout_seconds)

    def account_label(self, credentials: KabootarCredentials) -> str:
        return credentials.handle

    async def _call(self, credentials: KabootarCredentials, method: str, path: str, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {credentials.token}"}
        try:
            async with self._session.get().request(
                method, f"{self.api_base}{path}", headers=headers, **options
            ) as response:
                body = await response.json(content_type=None)
                status, reset = response.status, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError:
            raise RetryableError(f"{PLATFORM} could not be reached; nothing was sent") from None
        except (aiohttp.ClientError, TimeoutError):
            raise AmbiguousError(f"{PLATFORM} did not answer; the post may have been made") from None
        if status < 400:
            return body
        said = str(body.get("error", status)) if isinstance(body, dict) else str(status)
        if status == 429:
            raise RateLimitedError(
                f"{PLATFORM}: too many posts", datetime.now(UTC) + timedelta(seconds=float(reset or 60))
            )
        if status in {401, 403}:
            raise AuthError(f"{PLATFORM} refused the token ({said}); renew it")
        if status >= 500:
            raise RetryableError(f"{PLATFORM} failed ({status} {said})")
        raise PermanentError(f"{PLATFORM} refused the post ({status} {said})")

    def _posted(self, body: Mapping[str, Any]) -> Posted:
        return Posted(post_id=str(body["id"]), url=f"https://kabootar.example/p/{body['id']}")

    async def publish(
        self, credentials: KabootarCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        self.check_media(media)
        form = aiohttp.FormData()
        form.add_field("text", delivery.text)
        form.add_field("client_id", delivery.id)
        for file in media[: self.media_limit]:
            form.add_field("media", file.data, filename=file.filename, content_type=file.content_type)
        return self._posted(await self._call(credentials, "POST", "/v1/posts", data=form))

    async def amplify(
        self,
        credentials: KabootarCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action not in self.amplify_actions:
            return await super().amplify(credentials, delivery, source, media)
        body = await self._call(credentials, "POST", f"/v1/posts/{source.post_id}/reflight")
        return self._posted(body)

    async def reconcile(self, credentials: KabootarCredentials, delivery: Delivery) -> Posted | None:
        found = await self._call(credentials, "GET", "/v1/posts", params={"client_id": delivery.id})
        return self._posted(found["posts"][0]) if found["posts"] else None

    async def aclose(self) -> None:
        await self._session.close()


class KabootarFake(Fake):
    platform: ClassVar[str] = PLATFORM
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "khz-roads": {"token": "demo-roads-kabootar-token", "handle": "khz_roads"},
            "khz-rail": {"token": "demo-rail-kabootar-token", "handle": "south_rail"},
        },
        amplify={"khz-transport-week": "reflight"},
    )

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.client_ids: dict[str, str] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/posts", self._post),
            web.get("/v1/posts", self._find),
            web.post("/v1/posts/{post_id}/reflight", self._reflight),
        ]

    def error_response(self, status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        return web.json_response(
            {"error": "slow down"}, status=429, headers={"Retry-After": str(int(reset_seconds))}
        )

    @staticmethod
    def _account(request: web.Request) -> str | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return token or None

    async def _post(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self.error_response(401, "no token")
        form = await request.post()
        text = str(form.get("text") or "")
        if not text.strip():
            return self.error_response(400, "empty text")
        post = self.record(
            account=account,
            post_id=str(self.next_id()),
            action="publish",
            text=text,
            media=[field.filename for field in form.getall("media", []) if isinstance(field, web.FileField)],
        )
        self.client_ids[str(form.get("client_id"))] = post.post_id
        return web.json_response({"id": post.post_id, "at": time.time()}, status=201)

    async def _find(self, request: web.Request) -> web.Response:
        post_id = self.client_ids.get(request.query.get("client_id", ""))
        return web.json_response({"posts": [{"id": post_id}] if post_id else []})

    async def _reflight(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self.error_response(401, "no token")
        source = request.match_info["post_id"]
        if not any(post.post_id == source for post in self.sandbox.posts_on(PLATFORM)):
            return self.error_response(404, "no such post")
        post = self.record(
            account=account, post_id=str(self.next_id()), action="reflight", source_post_id=source
        )
        return web.json_response({"id": post.post_id}, status=201)


@contextmanager
def kabootar_registered() -> Iterator[None]:
    """The made-up adapter and fake in the registries for the duration, as their modules would be."""
    adapters.register(KabootarAdapter)
    sandbox.server.register_fake(KabootarFake)
    try:
        yield
    finally:
        adapters._REGISTRY.pop(PLATFORM, None)
        sandbox.server._FAKES.pop(PLATFORM, None)


def records(box: Sandbox, platform: str) -> list[SandboxPost]:
    return box.posts_on(platform)
