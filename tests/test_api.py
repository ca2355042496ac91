"""The HTTP ingress: per-agency bearer tokens, idempotency, the item's status, the documents, the
CLI commands, serving inside `run all`, and no credential in any log line."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from redis.asyncio import Redis
from typer.testing import CliRunner

from services.app import SERVICES, build_runtime, build_workers
from services.cli import app as cli
from services.config import parse_network
from services.ingress.tokens import new_token, token_sha256
from services.ingress.webhooks import sign_github
from services.logs import configure
from services.runtime import Runtime, Settings
from tests.support.api import api_client, stream_items
from tests.support.harness import running, wait_idle
from tests.support.memory_platform import MemoryPlatform

AGENCIES = ("khz-roads", "khz-rail", "khz-ports")
TOKENS = {name: new_token() for name in AGENCIES}
HOOK_SECRET = "github-hook-secret-of-khz-roads"


def document() -> dict[str, Any]:
    return {
        "agencies": {
            name: {
                "name": f"اداره {name}",
                "accounts": {"memory": {"handle": name, "token": f"memory-secret-{name}"}},
                "ingest": {
                    "api_token_sha256": token_sha256(TOKENS[name]),
                    "webhooks": {"github": {"secret": HOOK_SECRET}} if name == "khz-roads" else {},
                },
            }
            for name in AGENCIES
        },
        "networks": {
            "khz-transport": {
                "members": list(AGENCIES),
                "amplify": {"memory": "forward"},
                "delay_seconds": [0, 0.1],
            }
        },
    }


def auth(agency: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[agency]}"}


def make_runtime(redis_url: str, prefix: str) -> Runtime:
    registry: dict[str, Any] = {"memory": MemoryPlatform}
    network = parse_network(document(), registry)
    settings = Settings(prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05)
    return build_runtime(network, redis_url, settings, registry)


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    built = make_runtime(redis_url, prefix)
    yield built
    await built.redis.aclose()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime, max_body_bytes=32 * 1024) as http:
        yield http


async def test_a_token_publishes_as_its_agency_only(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    item = {"text": "آغاز هفته حمل‌ونقل", "tags": ["هفته حمل و نقل"]}
    missing = await client.post("/v1/items", json=item)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await client.post("/v1/items", json=item, headers={"Authorization": "Bearer hmz_not-a-token"})
    assert wrong.status_code == 401
    other = await client.post("/v1/items", json={**item, "agency": "khz-rail"}, headers=auth("khz-roads"))
    assert other.status_code == 403
    assert "khz-roads" in other.json()["detail"]
    accepted = await client.post("/v1/items", json=item, headers=auth("khz-roads"))
    assert accepted.status_code == 202
    named = await client.post(
        "/v1/items", json={**item, "agency": "khz-roads", "id": "tw-1"}, headers=auth("khz-roads")
    )
    assert named.json() == {"id": "tw-1", "duplicate": False}
    items = await stream_items(redis, runtime)
    assert [(i["agency"], i["id"]) for i in items] == [
        ("khz-roads", accepted.json()["id"]),
        ("khz-roads", "tw-1"),
    ]
    # the same id again publishes nothing; another agency cannot take it over
    again = await client.post("/v1/items", json={**item, "id": "tw-1"}, headers=auth("khz-roads"))
    assert again.json() == {"id": "tw-1", "duplicate": True}
    taken = await client.post("/v1/items", json={**item, "id": "tw-1"}, headers=auth("khz-rail"))
    assert taken.status_code == 409
    assert len(await stream_items(redis, runtime)) == 2


async def test_idempotency_key_gives_the_same_id_and_one_publication(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    item = {"text": "بازگشایی محور اهواز"}
    headers = {**auth("khz-roads"), "Idempotency-Key": "cms-post-42"}
    first = await client.post("/v1/items", json=item, headers=headers)
    second = await client.post("/v1/items", json=item, headers=headers)
    assert first.status_code == second.status_code == 202
    # the same key and body: the first response, replayed (draft-ietf-httpapi-idempotency-key-header)
    assert first.json() == second.json() == {"id": first.json()["id"], "duplicate": False}
    assert second.headers["idempotent-replayed"] == "true"
    changed = await client.post("/v1/items", json={"text": "متن دیگر"}, headers=headers)
    assert changed.status_code == 422
    assert "different body" in changed.json()["detail"]
    # keys are per agency: the same key from another agency is another item
    rail = await client.post(
        "/v1/items", json=item, headers={**auth("khz-rail"), "Idempotency-Key": "cms-post-42"}
    )
    assert rail.json()["id"] != first.json()["id"]
    ids = [i["id"] for i in await stream_items(redis, runtime)]
    assert ids == [first.json()["id"], rail.json()["id"]]


async def test_malformed_and_oversized_bodies(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    headers = auth("khz-roads")
    not_json = await client.post("/v1/items", content=b"{oops", headers=headers)
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["detail"]
    not_item = await client.post("/v1/items", json={"text": "t", "platfroms": ["x"]}, headers=headers)
    assert not_item.status_code == 422
    assert "platfroms" in not_item.json()["detail"]
    not_object = await client.post("/v1/items", json=["t"], headers=headers)
    assert not_object.status_code == 422
    huge = await client.post("/v1/items", json={"text": "x" * 40_000}, headers=headers)
    assert huge.status_code == 413
    # authentication comes before parsing: no token, no parsing
    assert (await client.post("/v1/items", content=b"{oops")).status_code == 401
    assert await stream_items(redis, runtime) == []


async def test_get_item_shows_deliveries_and_amplifications_to_its_agency_only(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    async with running(runtime, ["fanout", "deliver", "amplify", "scheduler"]) as workers:
        accepted = await client.post("/v1/items", json={"text": "افتتاح طرح"}, headers=auth("khz-roads"))
        item_id = accepted.json()["id"]
        await wait_idle(workers)
        response = await client.get(f"/v1/items/{item_id}", headers=auth("khz-roads"))
        assert response.status_code == 200
        body = response.json()
        assert body["item"]["text"] == "افتتاح طرح"
        [own] = body["deliveries"]
        assert (own["platform"], own["action"], own["state"]) == ("memory", "publish", "posted")
        assert own["post_id"] and own["url"].startswith("memory://khz-roads/")
        assert sorted((a["agency"], a["action"], a["state"]) for a in body["amplifications"]) == [
            ("khz-ports", "forward", "posted"),
            ("khz-rail", "forward", "posted"),
        ]
        assert all(a["url"] for a in body["amplifications"])
        foreign = await client.get(f"/v1/items/{item_id}", headers=auth("khz-rail"))
        assert foreign.status_code == 404
        assert (await client.get(f"/v1/items/{item_id}")).status_code == 401
        assert (await client.get("/v1/items/nothing-here", headers=auth("khz-roads"))).status_code == 404


async def test_openapi_and_asyncapi_are_served(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    assert {"/v1/items", "/v1/items/{item_id}", "/v1/webhooks/{kind}/{agency}"} <= openapi["paths"].keys()
    assert "Item" in openapi["components"]["schemas"]
    body = openapi["paths"]["/v1/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Item"}
    assert openapi["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    asyncapi = (await client.get("/asyncapi.json")).json()
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["channels"]["items"]["address"].endswith(":items")
    assert asyncapi["channels"]["deliveries"]["parameters"]["platform"]["enum"] == ["memory"]
    assert {"Item", "Delivery", "Result", "DeadLetter"} <= asyncapi["components"]["schemas"].keys()


def test_cli_token_new_and_docs(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["token", "new", "khz-roads"])
    assert result.exit_code == 0, result.output
    token = re.search(r"^(hmz_\S+)$", result.output, re.M)
    digest = re.search(r'api_token_sha256: "([0-9a-f]{64})"', result.output)
    assert token and digest
    assert token_sha256(token.group(1)) == digest.group(1)
    result = runner.invoke(cli, ["docs", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    openapi = json.loads((tmp_path / "openapi.json").read_text("utf-8"))
    asyncapi = json.loads((tmp_path / "asyncapi.json").read_text("utf-8"))
    assert "/v1/webhooks/{kind}/{agency}" in openapi["paths"]
    assert asyncapi["channels"]["results"]["address"] == "hamafza:results"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    output = io.StringIO()
    structlog.reset_defaults()
    configure("json", "DEBUG", stream=output)
    yield output
    configure("json")


async def test_run_all_serves_the_api_and_no_credential_reaches_the_logs(
    redis_url: str, prefix: str, redis: Redis, json_logs: io.StringIO
) -> None:
    assert "api" in SERVICES
    runtime = make_runtime(redis_url, prefix)
    workers = build_workers(runtime, ["fanout", "api"], api_port=0)
    assert workers.api is not None
    await workers.start()
    try:
        base = workers.api.url
        async with httpx.AsyncClient(base_url=base) as http:
            accepted = await http.post("/v1/items", json={"text": "خبر"}, headers=auth("khz-roads"))
            assert accepted.status_code == 202
            body = b'{"text": "webhook"}'
            hook = await http.post(
                "/v1/webhooks/github/khz-roads", content=body, headers=sign_github(HOOK_SECRET, body)
            )
            assert hook.status_code == 202
            # a careless client's token in a query string, and a wrong token
            await http.get(f"/v1/items/x?token={TOKENS['khz-rail']}", headers=auth("khz-rail"))
            await http.post("/v1/items", json={}, headers={"Authorization": f"Bearer {TOKENS['khz-ports']}x"})
    finally:
        await workers.stop()

    # a request that fails mid-way (Redis gone) logs a traceback with its locals
    broken = make_runtime("redis://127.0.0.1:1/0", prefix)
    broken_workers = build_workers(broken, ["api"], api_port=0)
    assert broken_workers.api is not None
    await broken_workers.api.start()
    try:
        async with httpx.AsyncClient(base_url=broken_workers.api.url) as http:
            failed = await http.post("/v1/items", json={"text": "خبر"}, headers=auth("khz-ports"))
            assert failed.status_code == 500
            body = b'{"text": "webhook"}'
            failed = await http.post(
                "/v1/webhooks/github/khz-roads", content=body, headers=sign_github(HOOK_SECRET, body)
            )
            assert failed.status_code == 500
    finally:
        await broken_workers.api.stop()
        await broken.redis.aclose()

    output = json_logs.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"api.listening", "ingest.accepted", "http.request"} <= events
    assert any("exception" in line for line in lines), "the failing request should have logged a traceback"
    for secret in [
        *TOKENS.values(),
        HOOK_SECRET,
        token_sha256(TOKENS["khz-roads"]),
        "memory-secret-khz-roads",
    ]:
        assert secret not in output
