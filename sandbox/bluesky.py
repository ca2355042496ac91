"""A fake Bluesky PDS (XRPC), as the `atproto` SDK's `AsyncClient` calls it.

Mounted at `/bluesky/`, so `AsyncClient(base_url="{sandbox}/bluesky")` calls `/bluesky/xrpc/<nsid>`.
`createSession` accepts any handle with a non-empty password and issues well-formed JWTs (the SDK
reads their `exp`) without a `didDoc`, so the SDK stays on this host. Records are kept per
(repo, collection, rkey): creating one at an existing rkey fails with 400 `InvalidRequest`, as a PDS
refuses to overwrite through `createRecord`. A post's text is held to 300 graphemes and 3000 bytes,
as the `app.bsky.feed.post` lexicon says. Errors are `{"error": name, "message": text}`; a 429
carries `ratelimit-limit/remaining/reset/policy` headers, the reset in epoch seconds. Blobs and
image embeds: `sandbox.bluesky_blobs`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
import zlib
from typing import Any, ClassVar

import grapheme
from aiohttp import web

from sandbox.bluesky_blobs import BlobProblem, Blobs
from sandbox.server import DemoAccounts, Fake, Sandbox, register_fake

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
Json = dict[str, Any]


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(did: str, scope: str, lifetime: int) -> str:
    header = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
    now = int(time.time())
    body = _b64(json.dumps({"scope": scope, "sub": did, "iat": now, "exp": now + lifetime}).encode())
    return f"{header}.{body}.{_b64(hashlib.sha256(f'{header}.{body}'.encode()).digest())}"


@register_fake
class BlueskyFake(Fake):
    platform: ClassVar[str] = "bluesky"
    demo: ClassVar[DemoAccounts | None] = DemoAccounts(
        accounts={
            "khz-roads": {"handle": "khz-roads.bsky.social", "app_password": "demo-roads-app-password"},
            "khz-rail": {"handle": "south-rail.bsky.social", "app_password": "demo-rail-app-password"},
        },
        amplify={"khz-transport-week": "repost"},
    )

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.records: dict[tuple[str, str, str], Json] = {}  # (did, collection, rkey) → {cid, value}
        self.sessions: dict[str, str] = {}  # access token → did
        self.blobs = Blobs()

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/xrpc/{nsid}", self.dispatch)]

    def error_response(self, status: int, message: str) -> web.Response:
        name = {400: "InvalidRequest", 401: "AuthenticationRequired", 403: "Forbidden"}.get(
            status, "InternalServerError"
        )
        if status == 401:
            message = "Invalid identifier or password" if "createSession" in message else "Token is invalid"
        return web.json_response({"error": name, "message": message}, status=status)

    def rate_limit_response(self, reset_seconds: float) -> web.Response:
        return self._error(
            XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", self._limit_headers(reset_seconds))
        )

    def _limit_headers(self, reset_seconds: float) -> dict[str, str]:
        return {
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(math.ceil(time.time() + reset_seconds)),
            "ratelimit-policy": "5000;w=3600",
        }

    def _error(self, error: XrpcError) -> web.Response:
        return web.json_response(
            {"error": error.error, "message": error.message}, status=error.status, headers=error.headers
        )

    async def dispatch(self, request: web.Request) -> web.Response:
        methods = {
            "com.atproto.server.createSession": self.create_session,
            "com.atproto.server.refreshSession": self.refresh_session,
            "com.atproto.repo.createRecord": self.create_record,
            "com.atproto.repo.getRecord": self.get_record,
            "app.bsky.feed.getPosts": self.get_posts,
            "app.bsky.actor.getProfile": self.get_profile,
        }
        if request.match_info["nsid"] == "com.atproto.repo.uploadBlob" and request.method == "POST":
            return await self._upload_blob(request)
        method = methods.get(request.match_info["nsid"])
        if method is None:
            return self._error(XrpcError(501, "MethodNotImplemented", "Method Not Implemented"))
        try:
            body = await request.json() if request.method == "POST" and request.can_read_body else {}
            return web.json_response(await method(request, body if isinstance(body, dict) else {}))
        except XrpcError as error:
            return self._error(error)
        except ValueError:
            return self._error(XrpcError(400, "InvalidRequest", "Invalid JSON body"))

    async def _upload_blob(self, request: web.Request) -> web.Response:
        """uploadBlob takes the raw bytes as its body, not JSON."""
        try:
            did = self._did(request)
            data = await request.read()
            return web.json_response(self.blobs.upload(did, data, request.headers.get("Content-Type", "")))
        except XrpcError as error:
            return self._error(error)
        except BlobProblem as problem:
            return self._error(XrpcError(problem.status, problem.error, problem.message))

    # --- methods ---------------------------------------------------------------------------------

    @staticmethod
    def did_of(handle: str) -> str:
        return f"did:plc:{zlib.crc32(handle.lower().encode()):08x}sandbox"

    async def create_session(self, request: web.Request, body: Json) -> Json:
        handle, password = str(body.get("identifier") or ""), str(body.get("password") or "")
        if not handle or not password:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session(handle, self.did_of(handle))

    async def refresh_session(self, request: web.Request, body: Json) -> Json:
        did = self._did(request)
        return self._session(self._handle(did), did)

    def _session(self, handle: str, did: str) -> Json:
        access = jwt(did, "com.atproto.appPass", 7200)
        self.sessions[access] = did
        self.sessions[f"handle:{did}"] = handle
        return {
            "accessJwt": access,
            "refreshJwt": jwt(did, "com.atproto.refresh", 90 * 86400),
            "handle": handle,
            "did": did,
            "active": True,
        }

    async def create_record(self, request: web.Request, body: Json) -> Json:
        did = self._did(request)
        repo, collection = body.get("repo"), str(body.get("collection") or "")
        if repo not in {did, self._handle(did)}:
            raise XrpcError(400, "InvalidRequest", "Invalid repo: not the session's account")
        record = body.get("record")
        if not isinstance(record, dict) or collection not in {POST, REPOST}:
            raise XrpcError(400, "InvalidRequest", f"Invalid record or unsupported collection {collection}")
        rkey = str(body.get("rkey") or self.next_id())
        key = (did, collection, rkey)
        if key in self.records:
            raise XrpcError(400, "InvalidRequest", f"Record already exists: at://{did}/{collection}/{rkey}")
        source_uri: str | None = None
        images: list[str] = []
        if collection == POST:
            try:
                images = self.blobs.embedded(did, record)
            except BlobProblem as problem:
                raise XrpcError(problem.status, problem.error, problem.message) from None
            text = str(record.get("text") or "")
            if grapheme.length(text) > MAX_GRAPHEMES or len(text.encode()) > MAX_BYTES:
                raise XrpcError(
                    400,
                    "InvalidRequest",
                    f"Invalid app.bsky.feed.post record: Record/text must not be longer than {MAX_GRAPHEMES} graphemes",
                )
        else:
            subject = record.get("subject") or {}
            source_uri = str(subject.get("uri") or "")
            if self._record_at(source_uri) is None:
                raise XrpcError(400, "InvalidRequest", f"Could not locate record: {source_uri}")
        uri = f"at://{did}/{collection}/{rkey}"
        cid = "bafyrei" + hashlib.sha256(uri.encode()).hexdigest()[:52]
        self.records[key] = {"cid": cid, "value": record}
        self.record(
            account=did,
            post_id=uri,
            action="publish" if collection == POST else "repost",
            text=str(record.get("text") or ""),
            url=f"https://bsky.app/profile/{self._handle(did)}/post/{rkey}" if collection == POST else None,
            source_post_id=source_uri,
            media=images,
        )
        return {"uri": uri, "cid": cid, "commit": {"cid": cid, "rev": rkey}, "validationStatus": "valid"}

    async def get_record(self, request: web.Request, body: Json) -> Json:
        repo, collection, rkey = (request.query.get(name, "") for name in ("repo", "collection", "rkey"))
        did = repo if repo.startswith("did:") else self.did_of(repo)
        found = self.records.get((did, collection, rkey))
        if found is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: at://{did}/{collection}/{rkey}")
        return {"uri": f"at://{did}/{collection}/{rkey}", "cid": found["cid"], "value": found["value"]}

    async def get_posts(self, request: web.Request, body: Json) -> Json:
        self._did(request)
        uris = request.query.getall("uris", [])
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "uris must not have more than 25 elements")
        posts = []
        for uri in uris:
            found = self._record_at(uri)
            if found is None or "/app.bsky.feed.post/" not in uri:
                continue
            did = uri.split("/")[2]
            reposts = sum(
                1
                for record in self.records.values()
                if (record["value"].get("subject") or {}).get("uri") == uri
            )
            seed = zlib.crc32(uri.encode())
            posts.append(
                {
                    "uri": uri,
                    "cid": found["cid"],
                    "author": {"did": did, "handle": self._handle(did)},
                    "record": found["value"],
                    "likeCount": seed % 40,
                    "repostCount": reposts,
                    "replyCount": seed % 5,
                    "quoteCount": 0,
                    "indexedAt": found["value"].get("createdAt", ""),
                }
            )
        return {"posts": posts}

    async def get_profile(self, request: web.Request, body: Json) -> Json:
        actor = request.query.get("actor", "")
        did = actor if actor.startswith("did:") else self.did_of(actor)
        return {
            "did": did,
            "handle": self._handle(did) if not actor or actor.startswith("did:") else actor,
            "followersCount": 300 + zlib.crc32(did.encode()) % 10_000,
            "followsCount": 12,
            "postsCount": sum(1 for key in self.records if key[0] == did and key[1] == POST),
        }

    # --- helpers ---------------------------------------------------------------------------------

    def _did(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        did = self.sessions.get(header.removeprefix("Bearer ").strip())
        if did is None:
            raise XrpcError(401, "AuthenticationRequired", "Token is invalid")
        return did

    def _handle(self, did: str) -> str:
        return self.sessions.get(f"handle:{did}", did)

    def _record_at(self, uri: str) -> Json | None:
        parts = uri.removeprefix("at://").split("/")
        return self.records.get((parts[0], parts[1], parts[2])) if len(parts) == 3 else None
