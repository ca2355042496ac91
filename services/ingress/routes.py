"""The HTTP routes: thin handlers over `Ingest`, `IdempotencyKeys` and the item lookup."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.responses import Response

from schemas import Item
from services.ingress.deps import Agency, State, log, parse_json, read_body
from services.ingress.idempotency import Response as Outcome
from services.ingress.ingest import Refused
from services.ingress.lookup import item_status
from services.ingress.models import AGENCY_PATTERN, ERRORS, ITEM_ID_PATTERN, AcceptedOut, ItemStatusOut
from services.ingress.webhooks import (
    VERIFIERS,
    PayloadError,
    SignatureError,
    check_signature,
    describe,
    short_digest,
    to_item,
)

router = APIRouter()

ItemIdPath = Annotated[str, Path(pattern=ITEM_ID_PATTERN, description="An item id.")]
AgencyPath = Annotated[str, Path(pattern=AGENCY_PATTERN, description="The agency whose webhook this is.")]


def _item_request_schema() -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
        "description": "An item (docs/stream-format.md). `agency` may be omitted: it is the token's.",
    }


def item_from_body(payload: Any, agency: str) -> Item:
    if not isinstance(payload, dict):
        raise HTTPException(422, "the body must be an item: a JSON object")
    given = payload.get("agency")
    if given is not None and given != agency:
        log.warning("ingest.forbidden", agency=agency, reason="body names another agency")
        raise HTTPException(403, f"this token publishes as {agency!r} only")
    try:
        return Item.model_validate({**payload, "agency": agency})
    except ValidationError as error:
        raise HTTPException(422, f"not a valid item: {describe(error)}") from None


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
        Header(
            max_length=255,
            description="Same key and body → the first response, published once (kept 7 days); "
            "same key, other body → 422; while the first request runs → 409.",
        ),
    ] = None,
) -> Response:
    item = item_from_body(parse_json(await read_body(request, state.max_body_bytes)), agency)
    digest = hashlib.sha256(item.model_dump_json(exclude={"id"}).encode()).hexdigest()
    if item.id is None:
        suffix = f"k{short_digest(agency, idempotency_key)}" if idempotency_key else uuid.uuid4().hex[:24]
        item = item.model_copy(update={"id": f"{agency}-{suffix}"})

    async def publish() -> Outcome:
        accepted = await state.ingest.accept(item, source="api", digest=digest)
        return Outcome(202, AcceptedOut(id=accepted.id, duplicate=accepted.duplicate).model_dump())

    try:
        outcome = await state.idempotency.once(agency, idempotency_key, digest, publish)
    except Refused as refused:
        raise HTTPException(refused.status, refused.message) from None
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, outcome.status, headers=headers)


@router.get(
    "/v1/items/{item_id}",
    response_model=ItemStatusOut,
    responses=ERRORS,
    summary="An item of the token's agency: its deliveries and amplifications",
    tags=["items"],
)
async def get_item(item_id: ItemIdPath, state: State, agency: Agency) -> ItemStatusOut:
    status = await item_status(state, agency, item_id)
    if status is None:  # another agency's item is indistinguishable from a missing one
        raise HTTPException(404, f"no item {item_id!r} of this agency")
    return status


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
async def post_webhook(kind: str, agency: AgencyPath, request: Request, state: State) -> Response:
    if kind not in VERIFIERS:
        raise HTTPException(404, f"no webhook kind {kind!r} (known: {', '.join(VERIFIERS)})")
    body = await read_body(request, state.max_body_bytes)
    config = state.runtime.network.agencies.get(agency)
    hook = getattr(config.ingest.webhooks, kind) if config and config.ingest else None
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        verified = check_signature(kind, hook.secret if hook else None, body, headers, state.clock())
    except SignatureError as error:
        log.warning("webhook.refused", agency=agency, kind=kind, reason=str(error), configured=bool(hook))
        raise HTTPException(401, f"signature refused: {error}") from None
    if verified.event == "ping":
        return JSONResponse({"ping": "ok"}, status_code=200)
    try:
        item = to_item(kind, agency, parse_json(body), body, verified)
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
