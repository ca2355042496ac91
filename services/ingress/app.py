"""The FastAPI application: routes, one error shape, request ids, the OpenAPI document.

Why FastAPI + uvicorn: the OpenAPI document comes from the routes themselves (so it cannot drift from
the code), request/response models are the pydantic models the streams already use, and uvicorn runs
in the same asyncio loop as the FastStream workers, so `hamafza run all` serves it in-process.

Every error body is `{"detail": "<one sentence>"}`: FastAPI's validation errors (a list of dicts by
default) are joined into one sentence, and an unexpected exception becomes a 500 whose detail names
only the request id, which is returned in `X-Request-Id` and logged with the traceback.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from schemas import Item
from services import streams
from services.ingress.approvals_api import router as approvals_router
from services.ingress.deps import ApiState, log
from services.ingress.report_api import router as report_router
from services.ingress.routes import router
from services.keys import Keys

REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def describe_request_errors(error: RequestValidationError) -> str:
    parts = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail.get("loc", ()) if part != "body") or "request"
        parts.append(f"{where}: {detail.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": describe_request_errors(error)}, status_code=422)


def create_app(state: ApiState | None = None) -> FastAPI:
    app = FastAPI(
        title="Hamafza HTTP ingress",
        version="1",
        summary="Publish once; Hamafza posts on every account and partners amplify.",
        description="Items go to the same Redis stream as a raw XADD (see the AsyncAPI document).",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        exception_handlers={RequestValidationError: _validation_error},
    )
    app.state.hamafza = state
    app.include_router(router)
    app.include_router(approvals_router)
    app.include_router(report_router)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        keys = state.runtime.keys if state else Keys()
        return streams.document(keys, sorted(state.runtime.adapters) if state else [])

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                response = await call_next(request)
            except Exception:
                log.exception("http.failed", method=request.method, path=request.url.path)
                response = JSONResponse(
                    {"detail": f"internal error; quote request id {request_id} to the operators"},
                    status_code=500,
                )
            response.headers[REQUEST_ID_HEADER] = request_id
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
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(definitions["$defs"])
            # FastAPI documents its own 422 shape; ours is the same `{"detail": "…"}` as every error.
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    if "422" in operation.get("responses", {}):
                        operation["responses"]["422"] = {
                            "description": "Validation Error",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                            },
                        }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    return create_app(None).openapi()
