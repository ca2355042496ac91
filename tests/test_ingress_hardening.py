"""Issue 16 on the HTTP ingress: each defect found by trying the landed API as an attacker would.

One owner per item id (an id used on the stream, an `e<entry id>`, an HTTP id whose record expired),
path parameters checked before Redis sees them, hostile JSON (10,000 levels, a 5,000-digit number)
answered 400, Ghost's `t=²` answered 401, 401s that do not tell which agency has which webhook,
a 409 that names no one, one error shape, Idempotency-Key as the IETF draft says, and a 500 that
carries a request id.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from services.ingress.webhooks import sign_ghost, sign_github
from services.runtime import Runtime
from tests.support.api import api_client, stream_items
from tests.support.harness import running, wait_idle, xadd_fields
from tests.test_api import HOOK_SECRET, auth, json_logs, make_runtime, runtime

__all__ = ["json_logs", "runtime"]  # fixtures

DEEP = b'{"text": "t", "tags": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
LONG_NUMBER = b'{"text": "t", "campaign": ' + b"9" * 5_000 + b"}"


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime, max_body_bytes=1_048_576) as http:
        yield http


def names_no_agency(detail: str) -> bool:
    return not any(name in detail for name in ("khz-roads", "khz-rail", "khz-ports"))


async def test_an_id_first_used_on_the_stream_belongs_to_its_agency(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler"]) as workers:
        await redis.xadd(
            runtime.keys.items, xadd_fields({"id": "roads-1", "agency": "khz-roads", "text": "خبر"})
        )
        entry = await redis.xadd(runtime.keys.items, xadd_fields({"agency": "khz-roads", "text": "بی شناسه"}))
        await wait_idle(workers)
    derived = f"e{entry.decode()}"
    for item_id in ("roads-1", derived):
        taken = await client.post(
            "/v1/items", json={"id": item_id, "text": "ربودن"}, headers=auth("khz-rail")
        )
        assert taken.status_code == 409, item_id
        assert names_no_agency(taken.json()["detail"])
        assert (await client.get(f"/v1/items/{item_id}", headers=auth("khz-rail"))).status_code == 404
        mine = await client.get(f"/v1/items/{item_id}", headers=auth("khz-roads"))
        assert mine.status_code == 200
        assert mine.json()["deliveries"][0]["state"] == "posted"
    # an unused id of the stream's own form is not for HTTP clients to take before the stream does
    reserved = await client.post(
        "/v1/items", json={"id": "e99999999999999-0", "text": "پیش‌دستی"}, headers=auth("khz-rail")
    )
    assert reserved.status_code == 422
    assert [i["agency"] for i in await stream_items(redis, runtime)] == ["khz-roads", "khz-roads"]


async def test_an_http_id_stays_its_agencys_after_its_record_expires(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    first = await client.post("/v1/items", json={"id": "kept-1", "text": "خبر"}, headers=auth("khz-roads"))
    assert first.status_code == 202
    await redis.delete(runtime.keys.ingest_item("kept-1"))  # what its 90-day expiry does
    taken = await client.post("/v1/items", json={"id": "kept-1", "text": "دیگر"}, headers=auth("khz-rail"))
    assert taken.status_code == 409
    assert taken.json() == {"detail": "this item id is already in use; choose another id (or send none)"}
    assert (await client.get("/v1/items/kept-1", headers=auth("khz-rail"))).status_code == 404


async def test_path_parameters_are_checked_before_any_redis_key(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    await client.post("/v1/items", json={"id": "p-1", "text": "خبر"}, headers=auth("khz-roads"))
    # `<id>:deliveries` was a Redis set: WRONGTYPE and a 500 before
    for path in ("/v1/items/p-1:deliveries", "/v1/items/a%20b", "/v1/items/-x", "/v1/items/" + "a" * 200):
        response = await client.get(path, headers=auth("khz-roads"))
        assert response.status_code in (404, 422), path
        assert isinstance(response.json()["detail"], str)
    bad_agency = await client.post("/v1/webhooks/github/KHZ:roads", content=b"{}")
    assert bad_agency.status_code == 422
    assert isinstance(bad_agency.json()["detail"], str)


async def test_hostile_json_is_a_400_on_items_and_signed_webhooks(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    for body in (DEEP, LONG_NUMBER):
        response = await client.post("/v1/items", content=body, headers=auth("khz-roads"))
        assert response.status_code == 400, response.text
        hook = await client.post(
            "/v1/webhooks/github/khz-roads", content=body, headers=sign_github(HOOK_SECRET, body)
        )
        assert hook.status_code == 400, hook.text
    assert "too deeply" in response.json()["detail"] or "too long" in response.json()["detail"]
    assert await stream_items(redis, runtime) == []


async def test_webhook_401s_do_not_tell_which_agency_has_which_webhook(client: httpx.AsyncClient) -> None:
    body = b'{"text": "t"}'
    forged = sign_github("not-the-secret-at-all", body)
    configured = await client.post("/v1/webhooks/github/khz-roads", content=body, headers=forged)
    unconfigured = await client.post("/v1/webhooks/github/khz-rail", content=body, headers=forged)
    unknown = await client.post("/v1/webhooks/github/nobody-here", content=body, headers=forged)
    assert configured.status_code == unconfigured.status_code == unknown.status_code == 401
    assert configured.json() == unconfigured.json() == unknown.json()
    # Ghost's t= with a digit int() refuses ("²".isdigit() is True): 401, not 500
    for stamp in ("²".encode("latin-1"), "١٢٣".encode(), b"9" * 5000):
        ghost = await client.post(
            "/v1/webhooks/ghost/khz-roads",
            content=body,
            headers={"X-Ghost-Signature": b"sha256=" + b"0" * 64 + b", t=" + stamp},
        )
        assert ghost.status_code == 401, stamp
    stale_ms = int((time.time() - 3600) * 1000)
    stale = sign_ghost("whatever", body, stale_ms)
    a = await client.post("/v1/webhooks/ghost/khz-roads", content=body, headers=stale)
    b = await client.post("/v1/webhooks/ghost/khz-rail", content=body, headers=stale)
    assert a.json() == b.json()


async def test_every_error_has_one_shape(client: httpx.AsyncClient) -> None:
    long_key = {**auth("khz-roads"), "Idempotency-Key": "k" * 300}
    responses = [
        await client.post("/v1/items", json={"text": "t"}, headers=long_key),  # FastAPI's own 422
        await client.post("/v1/items", json={"text": 5}, headers=auth("khz-roads")),
        await client.get("/v1/nothing"),
        await client.delete("/v1/items"),
        await client.post("/v1/items", json={"text": "t"}),
    ]
    assert [r.status_code for r in responses] == [422, 422, 404, 405, 401]
    for response in responses:
        assert list(response.json()) == ["detail"] and isinstance(response.json()["detail"], str)
    assert "idempotency-key" in responses[0].json()["detail"].lower()


async def test_idempotency_key_as_the_ietf_draft_says(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    headers = {**auth("khz-roads"), "Idempotency-Key": "draft-1"}
    # a first request still in progress (begun, no response yet): a retry is 409
    state_digest = "in-flight-digest"
    ingest_keys = runtime.keys.ingest_seen("khz-roads", "idempotency", hashlib.sha256(b"draft-2").hexdigest())
    await redis.hset(ingest_keys, mapping={"state": "in_progress", "digest": state_digest})
    busy = await client.post(
        "/v1/items", json={"text": "t"}, headers={**auth("khz-roads"), "Idempotency-Key": "draft-2"}
    )
    assert busy.status_code in (409, 422)
    first = await client.post("/v1/items", json={"text": "یک"}, headers=headers)
    again = await client.post("/v1/items", json={"text": "یک"}, headers=headers)
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    other = await client.post("/v1/items", json={"text": "دو"}, headers=headers)
    assert other.status_code == 422
    assert len(await stream_items(redis, runtime)) == 1


async def test_a_reused_key_is_409_only_while_the_first_request_runs(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    import hashlib

    from schemas import Item

    item = Item.model_validate({"agency": "khz-roads", "text": "در جریان"})
    digest = hashlib.sha256(item.model_dump_json(exclude={"id"}).encode()).hexdigest()
    headers = {**auth("khz-roads"), "Idempotency-Key": "slow-1"}
    state = runtime  # the API's own store, on the same Redis
    from services.ingress.idempotency import IdempotencyKeys

    store = IdempotencyKeys(state.redis, state.keys)
    assert await store.begin("khz-roads", "slow-1", digest) is None  # the first request has begun
    running_retry = await client.post("/v1/items", json={"text": "در جریان"}, headers=headers)
    assert running_retry.status_code == 409
    assert "in progress" in running_retry.json()["detail"]
    await store.forget("khz-roads", "slow-1")  # it failed: nothing kept, the retry goes ahead
    retried = await client.post("/v1/items", json={"text": "در جریان"}, headers=headers)
    assert retried.status_code == 202


async def test_a_500_is_logged_with_a_request_id_that_the_client_gets(
    redis_url: str, prefix: str, json_logs: io.StringIO
) -> None:
    broken = make_runtime("redis://127.0.0.1:1/0", prefix)
    try:
        async with api_client(broken, max_body_bytes=1024) as http:
            failed = await http.post("/v1/items", json={"text": "خبر"}, headers=auth("khz-ports"))
    finally:
        await broken.redis.aclose()
    assert failed.status_code == 500
    request_id = failed.headers["x-request-id"]
    assert request_id in failed.json()["detail"]
    assert "Traceback" not in failed.text and "redis" not in failed.text.lower()
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    [logged] = [line for line in lines if line["event"] == "http.failed"]
    assert logged["request_id"] == request_id and "exception" in logged


async def test_control_and_bidi_override_characters_are_stripped_persian_marks_stay(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    text = "می\u200cخواهم\u200f \u202eبخوانید\u202c\x00\x1b[31m پایان\u200e"
    accepted = await client.post(
        "/v1/items", json={"text": text, "tags": ["حمل\u2066"]}, headers=auth("khz-roads")
    )
    assert accepted.status_code == 202
    [item] = await stream_items(redis, runtime)
    assert item["text"] == "می\u200cخواهم\u200f بخوانید[31m پایان\u200e"
    assert item["tags"] == ["حمل"]
    only_controls = await client.post("/v1/items", json={"text": "\u202e\x07"}, headers=auth("khz-roads"))
    assert only_controls.status_code == 422
