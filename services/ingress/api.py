"""The HTTP ingress: agencies publish with a bearer token, CMSs with signed webhooks; feeds are watched.

One name to import from; the parts live in their own modules:
`app` (the FastAPI app, errors, request ids), `routes` (thin handlers), `deps` (state, auth, bodies),
`ingest` (the atomic accept), `idempotency` (Idempotency-Key), `lookup` (an item's status),
`models` (response models), `server` (uvicorn in-process).
"""

from __future__ import annotations

from services.ingress.app import create_app, openapi_document
from services.ingress.deps import MAX_BODY_BYTES, ApiState
from services.ingress.ingest import Accepted, Ingest, Refused
from services.ingress.server import DEFAULT_PORT, ApiService, serves_anyone

__all__ = [
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "Accepted",
    "ApiService",
    "ApiState",
    "Ingest",
    "Refused",
    "create_app",
    "openapi_document",
    "serves_anyone",
]
