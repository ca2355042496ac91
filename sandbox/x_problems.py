"""X's error bodies and response headers, shared by the X fake's tweet and media endpoints.

Problem JSON (`title`, `detail`, `type`, `status`), `application/json; charset=utf-8` on every
response (tweepy parses error bodies as JSON and aiohttp refuses other content types).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


class XProblem(Exception):
    """An X error response, raised from deep inside a handler and rendered by the fake's guard."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("detail", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def unauthorized() -> dict[str, Any]:
    return {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


def forbidden(detail: str) -> dict[str, Any]:
    return {"detail": detail, "type": "about:blank", "title": "Forbidden", "status": 403}


def invalid(parameter: str, value: str, message: str) -> XProblem:
    return XProblem(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        },
    )


def not_found(tweet_id: str, parameter: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with {parameter}: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": parameter,
        "resource_id": tweet_id,
        "type": NOT_FOUND,
    }


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers=headers or {},
    )
    response.headers["x-transaction-id"] = uuid.uuid4().hex[:16]
    response.headers["api-version"] = "2.120"
    return response
