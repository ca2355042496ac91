"""HTTP ingress: agencies publish with a bearer token, CMSs with signed webhooks; feeds are watched.

Why FastAPI + uvicorn: the OpenAPI document comes from the routes themselves (so it cannot drift from
the code), request/response models are the pydantic models the streams already use, and uvicorn runs
in the same asyncio loop as the FastStream workers, so `hamafza run all` serves it in-process.
aiohttp (already a dependency, used by the sandbox and the feed watcher's client) would need a
hand-written OpenAPI document.

Publishing an accepted item is exactly what an agency's `XADD hamafza:items * data '<json>'` does,
so fan-out, the ledger and item-id idempotency apply unchanged. One Lua script makes acceptance
atomic: it remembers the item's owner, the Idempotency-Key or webhook delivery id, and XADDs, all
or nothing, so a replay or a retried request never adds a second stream entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from pydantic.json_schema import models_json_schema
from redis.asyncio import Redis
from starlette.responses import Response

from schemas import Item
from services.config import Network
from services.ingress.feeds import FeedService
from services.ingress.tokens import TokenBook, register_ingest_secrets
from services.ingress.webhooks import VERIFIERS, PayloadError, SignatureError, describe, short_digest, to_item
from services.keys import Keys
from services.logs import get_logger
from services.ops.health import Readiness, add_routes, redis_probe
from services.ops.status import item_deliveries
from services.runtime import Runtime, encode, epoch_ms, now

log = get_logger("hamafza.api")

MAX_BODY_BYTES = 1_048_576  # a Ghost payload carries the post's HTML twice (current, previous)
DEDUPE_TTL_SECONDS = 7 * 24 * 3600  # Standard Webhooks retry for ~75 h; keep delivery ids longer
RECORD_TTL_SECONDS = 90 * 24 * 3600
DEFAULT_PORT = 8080

# KEYS: item record, dedupe key, items stream.
# ARGV: agency, item id, item json, digest, now ms, dedupe ttl ms, use dedupe (1/0), source, record ttl ms.
# Returns {verdict, id}: accepted | duplicate (nothing published) | mismatch (same key, other body) |
# conflict (the id belongs to another agency).
_ACCEPT = """
if ARGV[7] == '1' then
  local seen = redis.call('HMGET', KEYS[2], 'id', 'digest')
  if seen[1] then
    if seen[2] ~= ARGV[4] then return {'mismatch', seen[1]} end
    return {'duplicate', seen[1]}
  end
end
local owner = redis.call('HGET', KEYS[1], 'agency')
if owner and owner ~= ARGV[1] then return {'conflict', ARGV[2]} end
local verdict = 'duplicate'
if not owner then
  redis.call('HSET', KEYS[1], 'agency', ARGV[1], 'item', ARGV[3], 'received_ms', ARGV[5], 'source', ARGV[8])
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
  redis.call('XADD', KEYS[3], '*', 'data', ARGV[3])
  verdict = 'accepted'
end
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[2], 'id', ARGV[2], 'digest', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return {verdict, ARGV[2]}
"""


class Refused(Exception):
    """An item that cannot be accepted, with the HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool


class Ingest:
    """Publishes items from HTTP, webhooks and feeds: one atomic XADD per item id, ever."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(_ACCEPT)

    def record_key(self, item_id: str) -> str:
        return self.keys.ingest_item(item_id)

    def dedupe_key(self, agency: str, scope: str, key: str) -> str:
        return self.keys.ingest_seen(agency, scope, hashlib.sha256(key.encode()).hexdigest())

    async def accept(
        self, item: Item, *, source: str, dedupe: tuple[str, str] | None = None, digest: str = ""
    ) -> Accepted:
        """Publish `item` (its id set) unless its id or `dedupe` = (scope, key) was seen for its agency."""
        assert item.id is not None
        dedupe_key = self.dedupe_key(item.agency, *dedupe) if dedupe else self.record_key(item.id)
        raw: Any = await self._script(
            keys=[self.record_key(item.id), dedupe_key, self.keys.items],
            args=[
                item.agency,
                item.id,
                encode(item)["data"],
                digest,
                epoch_ms(now()),
                DEDUPE_TTL_SECONDS * 1000,
                "1" if dedupe else "0",
                source,
                RECORD_TTL_SECONDS * 1000,
            ],
        )
        verdict, item_id = (part.decode() if isinstance(part, bytes) else str(part) for part in raw)
        if verdict == "conflict":
            raise Refused(409, f"item id {item_id!r} is already used by another agency; choose another id")
        if verdict == "mismatch":
            raise Refused(
                409, f"this key was already used for item {item_id!r} with a different body; use a new key"
            )
        accepted = Accepted(item_id, duplicate=verdict == "duplicate")
        log.info(
            "ingest.duplicate" if accepted.duplicate else "ingest.accepted",
            item_id=item_id,
            agency=item.agency,
            source=source,
        )
        return accepted

    async def owner(self, item_id: str) -> tuple[str | None, dict[str, Any] | None, int | None]:
        """The agency that published an item (through ingress or a plain XADD), its item and time."""
        record: Any = await self.redis.hgetall(self.record_key(item_id))
        if record:
            fields = {k.decode(): v.decode() for k, v in record.items()}
            return fields.get("agency"), json.loads(fields["item"]), int(fields.get("received_ms", "0"))
        seen: Any = await self.redis.hgetall(self.keys.item(item_id))
        if seen:
            fields = {k.decode(): v.decode() for k, v in seen.items()}
            item = {"id": item_id, "agency": fields.get("agency"), "text": fields.get("text")}
            return fields.get("agency"), item, int(fields.get("received_ms", "0")) or None
        return None, None, None


# --- the HTTP application -----------------------------------------------------------------------


@dataclass
class ApiState:
    runtime: Runtime
    ingest: Ingest
    tokens: TokenBook
    max_body_bytes: int = MAX_BODY_BYTES
    clock: Callable[[], float] = field(default=time.time)


class AcceptedOut(BaseModel):
    id: str = Field(description="The item id: the idempotency key fan-out and the ledger use.")
    duplicate: bool = Field(default=False, description="True when nothing new was published (a replay).")


class DeliveryOut(BaseModel):
    delivery_id: str
    agency: str
    platform: str
    action: str
    state: str = Field(description="scheduled, sending, posted or dead")
    post_id: str | None = None
    url: str | None = None
    reason: str | None = None
    attempts: int = 0


class ItemStatusOut(BaseModel):
    id: str
    agency: str
    received_ms: int | None = None
    item: dict[str, Any] | None = None
    deliveries: list[DeliveryOut] = Field(description="The item's own posts, one per account.")
    amplifications: list[DeliveryOut] = Field(description="Partners' retweets and forwards.")


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}
bearer = HTTPBearer(auto_error=False, description="The agency's API token (`hamafza token new AGENCY`).")
router = APIRouter()


def state_of(request: Request) -> ApiState:
    state: ApiState | None = getattr(request.app.state, "hamafza", None)
    if state is None:  # an app built only for its OpenAPI document
        raise HTTPException(503, "not configured")
    return state


State = Annotated[ApiState, Depends(state_of)]


def authenticated_agency(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    agency = state.tokens.agency_of(credentials.credentials) if credentials else None
    if agency is None:
        log.warning("ingest.unauthorized", reason="missing or unknown bearer token")
        raise HTTPException(
            401, "a valid `Authorization: Bearer <token>` is required", {"WWW-Authenticate": "Bearer"}
        )
    return agency


Agency = Annotated[str, Depends(authenticated_agency)]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is longer than `limit` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(400, f"the body is not JSON: {error}") from None


def _item_request_schema() -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
        "description": "An item (docs/stream-format.md). `agency` may be omitted: it is the token's.",
    }


@router.post(
    "/v1/items",
    status_code=202,
    response_model=AcceptedOut,
    responses=ERRORS,
    openapi_extra={"requestBody": _item_request_schema()},
    summary="Publish an item as the token's agency",
    tags=["items"],
)
async def post_item(
    request: Request,
    state: State,
    agency: Agency,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Same key → same item id, published once (kept 7 days)."),
    ] = None,
) -> AcceptedOut:
    payload = parse_json(await read_body(request, state.max_body_bytes))
    if not isinstance(payload, dict):
        raise HTTPException(422, "the body must be an item: a JSON object")
    given = payload.get("agency")
    if given is not None and given != agency:
        log.warning("ingest.forbidden", agency=agency, reason="body names another agency")
        raise HTTPException(403, f"this token publishes as {agency!r}, not as {given!r}")
    document = {**payload, "agency": agency}
    try:
        item = Item.model_validate(document)
    except ValidationError as error:
        raise HTTPException(422, f"not a valid item: {describe(error)}") from None
    digest = hashlib.sha256(item.model_dump_json(exclude={"id"}).encode()).hexdigest()
    if item.id is None:
        suffix = f"k{short_digest(agency, idempotency_key)}" if idempotency_key else uuid.uuid4().hex[:24]
        item = item.model_copy(update={"id": f"{agency}-{suffix}"})
    dedupe = ("idempotency", idempotency_key) if idempotency_key else None
    try:
        accepted = await state.ingest.accept(item, source="api", dedupe=dedupe, digest=digest)
    except Refused as refused:
        raise HTTPException(refused.status, refused.message) from None
    return AcceptedOut(id=accepted.id, duplicate=accepted.duplicate)


@router.get(
    "/v1/items/{item_id}",
    response_model=ItemStatusOut,
    responses=ERRORS,
    summary="An item of the token's agency: its deliveries and amplifications",
    tags=["items"],
)
async def get_item(item_id: str, state: State, agency: Agency) -> ItemStatusOut:
    owner, item, received = await state.ingest.owner(item_id)
    if owner != agency:  # another agency's item is indistinguishable from a missing one
        raise HTTPException(404, f"no item {item_id!r} of agency {agency!r}")
    keys = state.runtime.keys
    rows = [
        DeliveryOut(**{k: v for k, v in row.__dict__.items() if k != "item_id"})
        for row in await item_deliveries(state.runtime.redis, keys, item_id)
    ]
    own = [row for row in rows if row.agency == owner and row.action == "publish"]
    return ItemStatusOut(
        id=item_id,
        agency=owner,
        received_ms=received,
        item=item,
        deliveries=own,
        amplifications=[row for row in rows if row not in own],
    )


@router.post(
    "/v1/webhooks/{kind}/{agency}",
    status_code=202,
    response_model=AcceptedOut,
    responses=ERRORS,
    summary="A signed CMS webhook (standard, github, ghost, wordpress)",
    description="The signature is checked on the raw body with the secret configured for this agency "
    "and kind; see docs/http-api.md for each kind's headers and payload.",
    tags=["webhooks"],
)
async def post_webhook(kind: str, agency: str, request: Request, state: State) -> Response:
    verifier = VERIFIERS.get(kind)
    if verifier is None:
        raise HTTPException(404, f"no webhook kind {kind!r} (known: {', '.join(VERIFIERS)})")
    body = await read_body(request, state.max_body_bytes)
    config = state.runtime.network.agencies.get(agency)
    hook = getattr(config.ingest.webhooks, kind) if config and config.ingest else None
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        if hook is None:
            raise SignatureError("no webhook of this kind is configured for this agency")
        verified = verifier(hook.secret, body, headers, state.clock())
    except SignatureError as error:
        log.warning("webhook.refused", agency=agency, kind=kind, reason=str(error))
        raise HTTPException(401, f"signature refused: {error}") from None
    if verified.event == "ping":
        return JSONResponse({"ping": "ok"}, status_code=200)
    payload = parse_json(body)
    try:
        item = to_item(kind, agency, payload, body, verified)
    except PayloadError as error:
        log.warning("webhook.unmappable", agency=agency, kind=kind, reason=str(error))
        raise HTTPException(422, str(error)) from None
    dedupe = (f"webhook-{kind}", verified.delivery_id) if verified.delivery_id else None
    try:
        accepted = await state.ingest.accept(
            item, source=f"webhook:{kind}", dedupe=dedupe, digest=hashlib.sha256(body).hexdigest()
        )
    except Refused as refused:
        raise HTTPException(refused.status, refused.message) from None
    status = 200 if accepted.duplicate else 202
    return JSONResponse(AcceptedOut(id=accepted.id, duplicate=accepted.duplicate).model_dump(), status)


def create_app(state: ApiState | None = None) -> FastAPI:
    app = FastAPI(
        title="Hamafza HTTP ingress",
        version="1",
        summary="Publish once; Hamafza posts on every account and partners amplify.",
        description="Items go to the same Redis stream as a raw XADD (see the AsyncAPI document).",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.hamafza = state
    app.include_router(router)
    from services.ingress.approvals_api import router as approvals_router  # it builds on this module

    app.include_router(approvals_router)
    from services.ingress.report_api import router as report_router

    app.include_router(report_router)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        from services import streams

        keys = state.runtime.keys if state else Keys()
        return streams.document(keys, sorted(state.runtime.adapters) if state else [])

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The path only: a query string is where careless clients put tokens.
        log.info(
            "http.request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _, definitions = models_json_schema(
                [(Item, "validation")], ref_template="#/components/schemas/{model}"
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    return create_app(None).openapi()


# --- serving, in-process next to the workers ------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # FastStream owns SIGINT/SIGTERM in `hamafza run`; it stops us through `ApiService.stop`.
        yield


class ApiService:
    """The HTTP app on uvicorn and the agencies' feed watchers, in the running event loop."""

    def __init__(
        self,
        runtime: Runtime,
        host: str | None = None,
        port: int | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host or os.environ.get("HAMAFZA_API_HOST", "127.0.0.1")
        self.port = port if port is not None else int(os.environ.get("HAMAFZA_API_PORT", str(DEFAULT_PORT)))
        agencies = runtime.network.agencies
        register_ingest_secrets(agencies)
        self.state = ApiState(
            runtime, Ingest(runtime.redis, runtime.keys), TokenBook(agencies, runtime.network.file.council)
        )
        self.app = create_app(self.state)
        # /healthz, /readyz and /metrics on the API's own port too (services.ops.health).
        ready = readiness or Readiness([("redis", redis_probe(runtime.redis))])
        add_routes(self.app, runtime.metrics, ready)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        ingest = self.state.ingest

        async def publish(item: Item) -> str:
            return (await ingest.accept(item, source="feed")).id

        self.feeds = FeedService(runtime.redis, runtime.keys, agencies, publish)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, access_log=False, lifespan="off"
        )
        server = _Server(config)
        self._server = server

        async def serve() -> None:
            try:
                await server.serve()
            except SystemExit:  # uvicorn exits the process when it cannot bind; we report instead
                raise RuntimeError("uvicorn could not start") from None

        self._task = asyncio.create_task(serve(), name="hamafza-api")
        while not server.started:
            if self._task.done():
                error = self._task.exception()
                raise RuntimeError(f"the API could not listen on {self.host}:{self.port}: {error!r}")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        log.info("api.listening", url=self.url)
        await self.feeds.start()

    async def stop(self) -> None:
        await self.feeds.stop()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None


def serves_anyone(network: Network) -> bool:
    """Whether any agency has an `ingest` section or the council a token: without, every request would
    be refused."""
    return network.file.council is not None or any(
        agency.ingest is not None for agency in network.agencies.values()
    )
