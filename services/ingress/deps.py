"""What every route depends on: the API's state, the caller's agency, a bounded body."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.ingress.idempotency import IdempotencyKeys
from services.ingress.ingest import Ingest
from services.ingress.tokens import TokenBook
from services.logs import get_logger
from services.runtime import Runtime, loads_bounded

log = get_logger("hamafza.api")

MAX_BODY_BYTES = 1_048_576  # a Ghost payload carries the post's HTML twice (current, previous)


@dataclass
class ApiState:
    runtime: Runtime
    ingest: Ingest
    tokens: TokenBook
    max_body_bytes: int = MAX_BODY_BYTES
    clock: Callable[[], float] = field(default=time.time)
    idempotency: IdempotencyKeys = field(init=False)

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyKeys(self.runtime.redis, self.runtime.keys)


bearer = HTTPBearer(auto_error=False, description="The agency's API token (`hamafza token new AGENCY`).")


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
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
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
    """The body's JSON; malformed, too deep or with a too-long number is 400, never a crash."""
    try:
        return loads_bounded(body, limit=len(body))
    except ValueError as error:
        raise HTTPException(400, f"the body is not JSON: {error}") from None
