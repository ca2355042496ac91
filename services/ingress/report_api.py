"""HTTP for the council: the synergy report (`GET /v1/report`, HTML or JSON by `Accept`) and its
outcome notes (`PUT /v1/report/notes/{campaign}`).

Only the council's token (`council.api_token_sha256` in the network file) reads them. Without a
token, or with an unknown one, the answer is 401; an agency's token gets 403 with the same words
whatever the agency, so it learns nothing of the report or of other tenants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from services.ingress.deps import State, bearer
from services.ingress.models import ERRORS
from services.logs import get_logger
from services.reach import report as reporting
from services.reach.report.html import render_html
from services.reach.report.read import write_note

log = get_logger("hamafza.api.report")
router = APIRouter(tags=["report"])
Campaign = Annotated[
    str, Path(pattern=r"^[^\x00-\x1f/]{1,100}$", description="The campaign, as items name it.")
]


def council(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = credentials.credentials if credentials else None
    if token is not None and state.tokens.is_council(token):
        return
    if token is not None and state.tokens.agency_of(token) is not None:
        log.warning("report.forbidden", reason="an agency token")
        raise HTTPException(403, "this report is for the council's token only")
    log.warning("report.unauthorized", reason="missing or unknown bearer token")
    raise HTTPException(
        401, "a valid `Authorization: Bearer <token>` is required", {"WWW-Authenticate": "Bearer"}
    )


Council = Annotated[None, Depends(council)]


class NoteIn(BaseModel):
    text: str = Field(
        min_length=1, max_length=4000, description="The council's note on the campaign's outcome."
    )


class NoteOut(BaseModel):
    campaign: str
    text: str
    at: str


@router.get(
    "/v1/report",
    responses={**ERRORS, 200: {"content": {"text/html": {}, "application/json": {}}}},
    summary="The synergy report (the council's token): HTML, or JSON with `Accept: application/json`",
)
async def get_report(
    request: Request,
    state: State,
    _council: Council,
    campaign: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[
        str | None, Query(max_length=20, description="1404-01-05 (Jalali) or 2025-03-25")
    ] = None,
    until: Annotated[str | None, Query(max_length=20)] = None,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    lang: Annotated[str, Query(pattern="^(fa|en)$")] = "fa",
    calendar: Annotated[str, Query(pattern="^(jalali|gregorian)$")] = "jalali",
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    try:
        filters = reporting.Filters(
            campaign=campaign,
            since=reporting.parse_day(since),
            until=reporting.parse_day(until),
            agency=agency,
        )
    except reporting.ReportError as error:
        raise HTTPException(400, str(error)) from None
    runtime = state.runtime
    document = await reporting.build_report(
        runtime.redis,
        runtime.keys,
        filters=filters,
        agency_names={name: config.name for name, config in runtime.network.agencies.items()},
        agency_channels={name: runtime.network.platforms_of(name) for name in runtime.network.agencies},
        platform_titles=reporting.platform_titles(lang),
        top=top,
        calendar=calendar,
    )
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(document.to_dict())
    return HTMLResponse(render_html(document, lang, calendar))


@router.put(
    "/v1/report/notes/{campaign}",
    responses=ERRORS,
    summary="The council's note on a campaign's outcome (a later note replaces it)",
)
@router.post("/v1/report/notes/{campaign}", responses=ERRORS, summary="The same as PUT")
async def put_note(campaign: Campaign, body: NoteIn, state: State, _council: Council) -> NoteOut:
    text = body.text.strip()
    if not text:
        raise HTTPException(422, "the note is empty: write what the campaign achieved")
    note = await write_note(state.runtime.redis, state.runtime.keys, campaign, text, datetime.now(UTC))
    return NoteOut(campaign=note.campaign, text=note.text, at=note.at.isoformat())
