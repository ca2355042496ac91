"""Signed CMS webhooks: each verifier against its provider's own signer or published vector, the
payload mappers, and the HTTP contract (401 bad/stale, replay publishes nothing, 413, 422)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from services.app import build_runtime
from services.config import parse_network
from services.ingress.webhooks import (
    VERIFIERS,
    PayloadError,
    SignatureError,
    map_ghost,
    map_wordpress,
    sign_ghost,
    sign_github,
    sign_wordpress,
    verify_github,
    verify_standard,
)
from services.runtime import Runtime, Settings
from tests.support.api import api_client, stream_items

STANDARD_SECRET = "whsec_" + base64.b64encode(b"a-very-random-32-byte-secret-key").decode()
GITHUB_SECRET = "gh-secret-for-khz-roads-0123"
GHOST_SECRET = "ghost-secret-for-khz-roads-0123"
WP_SECRET = "wp-secret-for-khz-roads-012345"
OTHER_SECRET = "gh-secret-for-khz-rail-9876543"


def document() -> dict[str, Any]:
    return {
        "agencies": {
            "khz-roads": {
                "name": "اداره کل راه و شهرسازی خوزستان",
                "ingest": {
                    "webhooks": {
                        "standard": {"secret": STANDARD_SECRET},
                        "github": {"secret": GITHUB_SECRET},
                        "ghost": {"secret": GHOST_SECRET},
                        "wordpress": {"secret": WP_SECRET},
                    }
                },
            },
            "khz-rail": {
                "name": "اداره کل راه‌آهن جنوب",
                "ingest": {"webhooks": {"github": {"secret": OTHER_SECRET}}},
            },
        }
    }


GHOST_PAYLOAD = {
    "post": {
        "current": {
            "id": "65f1c0ffee0123456789abcd",
            "status": "published",
            "title": "افتتاح ۱۲ طرح راه‌سازی",
            "custom_excerpt": "در <b>هفته حمل‌ونقل</b> ۱۲ طرح افتتاح شد.",
            "url": "https://khz-roads.example/news/12-projects/",
            "feature_image": "https://khz-roads.example/content/images/road.jpg",
            "feature_image_alt": "جاده",
            "tags": [
                {"name": "هفته حمل و نقل", "visibility": "public"},
                {"name": "#internal", "visibility": "internal"},
            ],
        },
        "previous": {"status": "draft"},
    }
}

WORDPRESS_PAYLOAD = {
    "id": 4321,
    "status": "publish",
    "link": "https://khz-roads.example/?p=4321",
    "title": {"rendered": "بازگشایی محور اهواز &#8211; خرمشهر"},
    "excerpt": {"rendered": "<p>محور پس از بهسازی بازگشایی شد.</p>\n"},
    "jetpack_featured_media_url": "https://khz-roads.example/wp-content/uploads/road.jpg",
    "_embedded": {
        "wp:term": [
            [{"taxonomy": "category", "name": "اخبار"}],
            [{"taxonomy": "post_tag", "name": "خوزستان"}, {"taxonomy": "post_tag", "name": "راه"}],
        ]
    },
}


# --- verifiers ----------------------------------------------------------------------------------


def test_github_published_test_vector() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign_github(secret, body) == {"X-Hub-Signature-256": signature}
    verify_github(secret, body, {"x-hub-signature-256": signature}, time.time())
    with pytest.raises(SignatureError):
        verify_github(secret, b"Hello, World?", {"x-hub-signature-256": signature}, time.time())
    with pytest.raises(SignatureError):
        verify_github("another secret entirely", body, {"x-hub-signature-256": signature}, time.time())


def test_a_request_signed_by_the_official_standard_webhooks_library_verifies() -> None:
    body = '{"text": "سلام"}'
    stamp = datetime.now(UTC)
    signature = Webhook(STANDARD_SECRET).sign("msg_2Lh9KRb0pzN4LePd3XiA", stamp, body)
    headers = {
        "webhook-id": "msg_2Lh9KRb0pzN4LePd3XiA",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": f"v1,c29tZXRoaW5nIGVsc2U= {signature}",  # rotation: any v1 may match
    }
    verified = verify_standard(STANDARD_SECRET, body.encode(), headers, time.time())
    assert verified.delivery_id == "msg_2Lh9KRb0pzN4LePd3XiA"
    # and the library accepts what it signed, so both sides agree on the bytes
    assert Webhook(STANDARD_SECRET).verify(body, headers) == {"text": "سلام"}


@pytest.mark.parametrize("offset", [-301, 301])
def test_standard_timestamps_outside_five_minutes_are_refused(offset: int) -> None:
    body = "{}"
    stamp = datetime.now(UTC) + timedelta(seconds=offset)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(STANDARD_SECRET).sign("msg_1", stamp, body),
    }
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_standard(STANDARD_SECRET, body.encode(), headers, time.time())


def test_ghost_signature_covers_body_and_millisecond_timestamp() -> None:
    body = json.dumps(GHOST_PAYLOAD).encode()
    ms = int(time.time() * 1000)
    headers = {k.lower(): v for k, v in sign_ghost(GHOST_SECRET, body, ms).items()}
    VERIFIERS["ghost"](GHOST_SECRET, body, headers, time.time())
    forged = headers["x-ghost-signature"].replace(f"t={ms}", f"t={ms + 1}")
    with pytest.raises(SignatureError):
        VERIFIERS["ghost"](GHOST_SECRET, body, {"x-ghost-signature": forged}, time.time())
    stale = {k.lower(): v for k, v in sign_ghost(GHOST_SECRET, body, ms - 301_000).items()}
    with pytest.raises(SignatureError, match="5 minutes"):
        VERIFIERS["ghost"](GHOST_SECRET, body, stale, time.time())


def test_wordpress_signature_is_base64_hmac_of_the_body() -> None:
    body = json.dumps(WORDPRESS_PAYLOAD).encode()
    headers = {k.lower(): v for k, v in sign_wordpress(WP_SECRET, body).items()}
    VERIFIERS["wordpress"](WP_SECRET, body, headers, time.time())
    with pytest.raises(SignatureError):
        VERIFIERS["wordpress"](WP_SECRET, body + b" ", headers, time.time())


# --- mappers ------------------------------------------------------------------------------------


def test_ghost_post_published_maps_to_an_item() -> None:
    item = map_ghost("khz-roads", GHOST_PAYLOAD)
    assert item.id == "ghost-khz-roads-65f1c0ffee0123456789abcd"
    assert item.text == "افتتاح ۱۲ طرح راه‌سازی\n\nدر هفته حمل‌ونقل ۱۲ طرح افتتاح شد."
    assert str(item.link) == "https://khz-roads.example/news/12-projects/"
    assert [str(m.url) for m in item.media] == ["https://khz-roads.example/content/images/road.jpg"]
    assert item.media[0].alt == "جاده"
    assert item.tags == ["هفته حمل و نقل"]  # internal tags are not hashtags
    assert item.overrides["x"].text == "افتتاح ۱۲ طرح راه‌سازی"  # X gets the title alone
    with pytest.raises(PayloadError, match=r"post\.published"):
        map_ghost("khz-roads", {"post": {"current": {"id": "1", "status": "draft", "title": "t"}}})
    with pytest.raises(PayloadError, match="Ghost post"):
        map_ghost("khz-roads", {"hello": 1})


def test_wordpress_post_maps_to_an_item() -> None:
    item = map_wordpress("khz-roads", WORDPRESS_PAYLOAD)
    assert item.id == "wp-khz-roads-4321"
    assert item.text.startswith("بازگشایی محور اهواز – خرمشهر\n\nمحور پس از بهسازی")
    assert item.tags == ["خوزستان", "راه"]
    assert [str(m.url) for m in item.media] == ["https://khz-roads.example/wp-content/uploads/road.jpg"]
    plugin_shape = {
        "post_id": 7,
        "post": {"post_title": "عنوان", "post_excerpt": "چکیده", "post_status": "publish"},
        "post_permalink": "https://khz-roads.example/?p=7",
        "taxonomies": {"post_tag": {"roads": {"name": "جاده"}}},
    }
    flat = map_wordpress("khz-roads", plugin_shape)
    assert (flat.id, flat.text, flat.tags) == ("wp-khz-roads-7", "عنوان\n\nچکیده", ["جاده"])
    with pytest.raises(PayloadError, match="status"):
        map_wordpress("khz-roads", {**WORDPRESS_PAYLOAD, "status": "draft"})


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    network = parse_network(document(), {})
    built = build_runtime(network, redis_url, Settings(prefix=prefix), {})
    yield built
    await built.redis.aclose()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime, max_body_bytes=64 * 1024) as http:
        yield http


def standard_headers(body: str, msg_id: str, when: datetime | None = None) -> dict[str, str]:
    stamp = when or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(STANDARD_SECRET).sign(msg_id, stamp, body),
        "content-type": "application/json",
    }


async def test_standard_webhook_publishes_once_and_a_replay_publishes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    body = json.dumps({"text": "خبر فوری", "tags": ["خوزستان"]}, ensure_ascii=False)
    headers = standard_headers(body, "msg_abc")
    first = await client.post("/v1/webhooks/standard/khz-roads", content=body.encode(), headers=headers)
    assert first.status_code == 202, first.text
    replay = await client.post("/v1/webhooks/standard/khz-roads", content=body.encode(), headers=headers)
    assert replay.status_code == 200
    assert replay.json() == {"id": first.json()["id"], "duplicate": True}
    # a retry by the sender: same webhook-id, new timestamp and signature
    retry = standard_headers(body, "msg_abc", datetime.now(UTC) + timedelta(seconds=30))
    again = await client.post("/v1/webhooks/standard/khz-roads", content=body.encode(), headers=retry)
    assert again.json()["id"] == first.json()["id"]
    items = await stream_items(redis, runtime)
    assert len(items) == 1
    assert items[0]["agency"] == "khz-roads"
    assert items[0]["id"] == first.json()["id"]


async def test_the_tenant_is_the_path_and_its_secret_never_the_body(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    body = json.dumps({"agency": "khz-rail", "text": "جعلی"}).encode()
    # signed with khz-roads's secret but claiming khz-rail in the body
    response = await client.post(
        "/v1/webhooks/github/khz-roads", content=body, headers=sign_github(GITHUB_SECRET, body)
    )
    assert response.status_code == 422
    assert "khz-rail" in response.json()["detail"]
    # khz-roads's signature on khz-rail's path
    response = await client.post(
        "/v1/webhooks/github/khz-rail", content=body, headers=sign_github(GITHUB_SECRET, body)
    )
    assert response.status_code == 401
    # a kind the agency has not configured
    response = await client.post(
        "/v1/webhooks/ghost/khz-rail",
        content=body,
        headers=sign_ghost(OTHER_SECRET, body, int(time.time() * 1000)),
    )
    assert response.status_code == 401
    assert await stream_items(redis, runtime) == []


async def test_github_webhook_with_the_signature_and_a_ping(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    body = json.dumps({"text": "اطلاعیه", "link": "https://khz-roads.example/n/1"}).encode()
    headers = {**sign_github(GITHUB_SECRET, body), "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "push"}
    first = await client.post("/v1/webhooks/github/khz-roads", content=body, headers=headers)
    assert first.status_code == 202, first.text
    # a replay with a forged (unsigned) delivery id still names the same item: nothing published
    forged = {**headers, "X-GitHub-Delivery": "d-2"}
    second = await client.post("/v1/webhooks/github/khz-roads", content=body, headers=forged)
    assert second.json() == {"id": first.json()["id"], "duplicate": True}
    ping = b'{"zen": "Keep it logically awesome."}'
    pong = await client.post(
        "/v1/webhooks/github/khz-roads",
        content=ping,
        headers={**sign_github(GITHUB_SECRET, ping), "X-GitHub-Event": "ping"},
    )
    assert pong.status_code == 200
    bad = await client.post(
        "/v1/webhooks/github/khz-roads", content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    assert bad.status_code == 401
    assert len(await stream_items(redis, runtime)) == 1


async def test_ghost_and_wordpress_webhooks_publish_mapped_items(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    ghost = json.dumps(GHOST_PAYLOAD, ensure_ascii=False).encode()
    response = await client.post(
        "/v1/webhooks/ghost/khz-roads",
        content=ghost,
        headers=sign_ghost(GHOST_SECRET, ghost, int(time.time() * 1000)),
    )
    assert response.json() == {"id": "ghost-khz-roads-65f1c0ffee0123456789abcd", "duplicate": False}
    stale = await client.post(
        "/v1/webhooks/ghost/khz-roads",
        content=ghost,
        headers=sign_ghost(GHOST_SECRET, ghost, int((time.time() - 600) * 1000)),
    )
    assert stale.status_code == 401
    assert "5 minutes" in stale.json()["detail"]
    wordpress = json.dumps(WORDPRESS_PAYLOAD, ensure_ascii=False).encode()
    headers = {**sign_wordpress(WP_SECRET, wordpress), "X-WC-Webhook-Delivery-ID": "77"}
    response = await client.post("/v1/webhooks/wordpress/khz-roads", content=wordpress, headers=headers)
    assert response.status_code == 202
    assert response.json()["id"] == "wp-khz-roads-4321"
    replay = await client.post("/v1/webhooks/wordpress/khz-roads", content=wordpress, headers=headers)
    assert replay.json()["duplicate"] is True
    items = await stream_items(redis, runtime)
    assert [item["id"] for item in items] == ["ghost-khz-roads-65f1c0ffee0123456789abcd", "wp-khz-roads-4321"]
    assert items[1]["tags"] == ["خوزستان", "راه"]


async def test_malformed_oversized_and_unknown(
    client: httpx.AsyncClient, runtime: Runtime, redis: Redis
) -> None:
    not_json = b"{not json"
    response = await client.post(
        "/v1/webhooks/github/khz-roads", content=not_json, headers=sign_github(GITHUB_SECRET, not_json)
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    not_item = json.dumps({"text": ""}).encode()
    response = await client.post(
        "/v1/webhooks/github/khz-roads", content=not_item, headers=sign_github(GITHUB_SECRET, not_item)
    )
    assert response.status_code == 422
    assert "text" in response.json()["detail"]
    huge = json.dumps({"text": "x" * 70_000}).encode()
    response = await client.post(
        "/v1/webhooks/github/khz-roads", content=huge, headers=sign_github(GITHUB_SECRET, huge)
    )
    assert response.status_code == 413
    response = await client.post("/v1/webhooks/stripe/khz-roads", content=b"{}")
    assert response.status_code == 404
    response = await client.post(
        "/v1/webhooks/github/nobody", content=b"{}", headers=sign_github("x" * 20, b"{}")
    )
    assert response.status_code == 401
    assert await stream_items(redis, runtime) == []
