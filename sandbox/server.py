"""The sandbox server: platform fakes, a record of what was posted, and fault injection.

Control endpoints (JSON):
- `GET  /_sandbox/posts[?platform=x]`  everything posted, in order;
- `POST /_sandbox/faults`  `{"platform": "x", "kind": "error"|"rate_limit"|"auth"|"drop",
  "status"?: 503, "reset_seconds"?: 2, "times"?: 1, "path"?: "/2/tweets"}`: the next `times` matching
  write requests fail that way (`drop` carries the request out, then drops the connection unanswered);
- `DELETE /_sandbox/faults`; `POST /_sandbox/latency` `{"platform": "x", "ms": 200}`;
- `POST /_sandbox/reset` forgets posts, faults and latency;
- `GET /_sandbox/media/{name}` media files, as an agency's CMS serves them (see `media_files`).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import pkgutil
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from aiohttp import web

from sandbox.media_files import media_routes

FaultKind = Literal["error", "rate_limit", "auth", "drop"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    kind: FaultKind
    status: int = 503
    reset_seconds: float = 2.0
    times: int = 1
    path: str | None = None
    methods: tuple[str, ...] = ("POST",)

    def matches(self, request: web.Request) -> bool:
        return request.method in self.methods and (self.path is None or self.path in request.path)


@dataclass
class SandboxPost:
    """One thing a fake platform accepted: a post, a repost, a forward."""

    platform: str
    account: str  # the posting account as the platform knows it (user id, chat id)
    post_id: str
    action: str  # publish | retweet | quote | forward
    text: str = ""
    url: str | None = None
    chat: str | None = None
    source_post_id: str | None = None
    source_chat: str | None = None
    media: list[str] = field(default_factory=list)
    # Every message id of a post made of several (an album), `post_id` first; else empty.
    post_ids: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class DemoAccounts:
    """What a fake lends `make demo`: accounts of some demo agencies on its platform (credentials in
    the network file's shape, which this fake accepts) and, per demo network, the verb its members
    amplify each other with here (the platform's label or a generic verb)."""

    accounts: Mapping[str, Mapping[str, Any]]
    amplify: Mapping[str, str] = field(default_factory=dict)
    # Whether the fake also serves the platform's public pages (at its own mount point).
    serves_web_pages: bool = False
    # Agencies whose own channel here the demo watches (`ingest.channels`), with that channel: an
    # officer posts in it during the demo (`Fake.person_posts`).
    channels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReachFigures:
    """A platform's totals as its fake's own records give them, for checking the synergy report:
    engagement of the posts the fake measures, and the audience behind every post."""

    impressions: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    potential_reach: int = 0


def delivery_records(posts: Iterable[SandboxPost]) -> list[SandboxPost]:
    """The fakes' records, one per delivery: an album is one record, and a platform without a
    many-message forward forwards an album one picture at a time, in one delivery."""
    posts = list(posts)
    later_parts = {(p.platform, p.chat, part) for p in posts for part in p.post_ids[1:]}
    return [
        p
        for p in posts
        if not (p.action == "forward" and (p.platform, p.source_chat, p.source_post_id) in later_parts)
    ]


# Records whose counters the report measures (a repost or forward is measured as its source).
# An officer's own channel post ("channel") counts too: Hamafza takes it as the agency's own post.
MEASURED_ACTIONS = frozenset({"publish", "quote", "copy", "channel"})


class Fake(ABC):
    """One platform's fake; mounted under `/<platform>/` by the sandbox."""

    platform: ClassVar[str]
    # The fake's accounts in the demo network; None for a fake the demo leaves out.
    demo: ClassVar[DemoAccounts | None] = None

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def person_posts(self, chat: str, text: str) -> str:
        """A person (not a bot) posts `text` in a channel, as an agency's officer does; the message id.
        Fakes whose platforms Hamafza watches channels on implement it."""
        raise NotImplementedError(f"the {self.platform} fake has no people posting in channels")

    @abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The platform's endpoints, with paths relative to the mount point."""

    @abstractmethod
    def error_response(self, status: int, message: str) -> web.Response:
        """An error in the platform's own shape (JSON, content type, headers)."""

    @abstractmethod
    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        """The platform's 429, with its own reset signal (header or body)."""

    def reach_figures(self) -> ReachFigures | None:
        """The report's figures for this platform from the fake's own records; None where the fake
        does not model reach (the demo then does not check it)."""
        return None

    def record(self, **fields: Any) -> SandboxPost:
        post = SandboxPost(platform=self.platform, **fields)
        self.sandbox.posts.append(post)
        return post

    def next_id(self) -> int:
        return next(self.sandbox.ids)


_FAKES: dict[str, type[Fake]] = {}


def register_fake(cls: type[Fake]) -> type[Fake]:
    _FAKES[cls.platform] = cls
    return cls


def load_fakes() -> dict[str, type[Fake]]:
    import sandbox

    for module in pkgutil.iter_modules(sandbox.__path__):
        if module.name not in {"server", "__main__"} and not module.name.startswith("_"):
            importlib.import_module(f"sandbox.{module.name}")
    return dict(sorted(_FAKES.items()))


class Sandbox:
    """State shared by every fake: what was posted, pending faults, added latency."""

    def __init__(self, platforms: list[str] | None = None) -> None:
        fakes = load_fakes()
        self.posts: list[SandboxPost] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.latency_ms: dict[str, float] = {}
        self.media_requests: Counter[str] = Counter()  # requests for media files, by path
        # Ids increase across platforms and restarts of a fake, like snowflakes do.
        self.ids = itertools.count(int(time.time() * 1000) * 1000)
        self.fakes = {
            name: cls(self) for name, cls in fakes.items() if platforms is None or name in platforms
        }

    def posts_on(self, platform: str) -> list[SandboxPost]:
        return [post for post in self.posts if post.platform == platform]

    def add_fault(self, platform: str, fault: Fault) -> None:
        self.faults.setdefault(platform, deque()).append(fault)

    def _take_fault(self, platform: str, request: web.Request) -> Fault | None:
        queue = self.faults.get(platform)
        if not queue:
            return None
        for fault in queue:
            if fault.matches(request):
                fault.times -= 1
                if fault.times <= 0:
                    queue.remove(fault)
                return fault
        return None

    def _fault_middleware(self, fake: Fake) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            delay = self.latency_ms.get(fake.platform, 0.0)
            if delay:
                await asyncio.sleep(delay / 1000)
            fault = self._take_fault(fake.platform, request)
            if fault is None:
                return await handler(request)
            if fault.kind == "rate_limit":
                return fake.rate_limit_response(fault.reset_seconds)
            if fault.kind == "auth":
                return fake.error_response(401, "Unauthorized")
            if fault.kind == "error":
                return fake.error_response(fault.status, "injected fault")
            # drop: the platform commits the request, then the response never arrives.
            await handler(request)
            if request.transport is not None:
                request.transport.abort()
            # Returned rather than raised: aiohttp quietly drops a response it cannot write, but
            # logs a raised error with a traceback, which reads as a sandbox crash.
            return web.Response(status=204)

        return middleware

    def app(self) -> web.Application:
        root = web.Application(client_max_size=16 * 1024 * 1024)
        root.add_routes(
            [
                web.get("/_sandbox/posts", self._list_posts),
                web.post("/_sandbox/faults", self._add_fault),
                web.delete("/_sandbox/faults", self._clear_faults),
                web.post("/_sandbox/latency", self._set_latency),
                web.post("/_sandbox/reset", self._reset),
                web.get("/_sandbox/health", self._health),
                *media_routes(self),
            ]
        )
        for name, fake in self.fakes.items():
            sub = web.Application(middlewares=[self._fault_middleware(fake)])
            sub.add_routes(fake.routes())
            root.add_subapp(f"/{name}/", sub)
        return root

    async def _list_posts(self, request: web.Request) -> web.Response:
        platform = request.query.get("platform")
        posts = [asdict(p) for p in self.posts if platform is None or p.platform == platform]
        return web.json_response({"posts": posts, "count": len(posts)})

    async def _add_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        platform = body.pop("platform")
        if platform not in self.fakes:
            raise web.HTTPBadRequest(text=f"unknown platform {platform!r}")
        if "methods" in body:
            body["methods"] = tuple(body["methods"])
        self.add_fault(platform, Fault(**body))
        return web.json_response({"ok": True}, status=201)

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True})

    async def _set_latency(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.latency_ms[body["platform"]] = float(body["ms"])
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.posts.clear()
        self.faults.clear()
        self.latency_ms.clear()
        self.media_requests.clear()
        return web.json_response({"ok": True})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "platforms": sorted(self.fakes)})


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    runner: web.AppRunner
    url: str

    def api_base(self, platform: str) -> str:
        return f"{self.url}/{platform}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(host: str = "127.0.0.1", port: int = 0, platforms: list[str] | None = None) -> RunningSandbox:
    """Start the sandbox on `host:port` (0: any free port) in this event loop."""
    sandbox = Sandbox(platforms)
    # A long poll (getUpdates) whose reader went away ends with it, as on a real server.
    runner = web.AppRunner(sandbox.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return RunningSandbox(sandbox, runner, f"http://{host}:{bound_port}")
