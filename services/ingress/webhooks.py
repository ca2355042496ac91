"""Signed CMS webhooks: one verifier per kind (a small registry) and the payload mappers.

| kind | header | signed bytes | encoding | replay window |
|---|---|---|---|---|
| standard | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64> …` | `{id}.{ts}.{body}` | HMAC-SHA256, base64 | ±5 min + `webhook-id` dedupe |
| github | `X-Hub-Signature-256: sha256=<hex>` | body | HMAC-SHA256, hex | `X-GitHub-Delivery` dedupe |
| ghost | `X-Ghost-Signature: sha256=<hex>, t=<ms>` | body + ts | HMAC-SHA256, hex | ±5 min + signature dedupe |
| wordpress | `X-WC-Webhook-Signature: <b64>` | body | HMAC-SHA256, base64 | `X-WC-Webhook-Delivery-ID` dedupe |

Every comparison is `hmac.compare_digest`. Verification runs on the raw bytes, before any JSON
parsing. The agency comes from the path and the secret configured for it, never from the payload.
Whatever a delivery id says, mapped items get ids derived from the agency and the post (or the
signed body), so even a replay with a forged, unsigned delivery id publishes nothing new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from adapters import load_adapters
from schemas import Item

TOLERANCE_SECONDS = 300.0
EXCERPT_LIMIT = 400
MAX_TAGS = 10


class SignatureError(Exception):
    """The request is not signed by the agency's secret, or the signature is stale (HTTP 401)."""


class PayloadError(ValueError):
    """The body is signed but is not what this kind of webhook carries (HTTP 422)."""


@dataclass(frozen=True)
class Verified:
    delivery_id: str | None  # remembered per agency and kind, so a replay publishes nothing
    event: str | None = None  # a provider event name (GitHub's X-GitHub-Event), if any


Verifier = Callable[[str, bytes, Mapping[str, str], float], Verified]


def _hmac(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def _check_time(seconds: float, now: float) -> None:
    if abs(now - seconds) > TOLERANCE_SECONDS:
        raise SignatureError("the signature's timestamp is more than 5 minutes away from now")


def verify_standard(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    """Standard Webhooks (standardwebhooks.com): any `v1` signature of `{id}.{ts}.{body}` passes."""
    msg_id, stamp, signatures = (
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
    )
    if not (msg_id and stamp and signatures):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_") + "==")
        if not re.fullmatch(r"[0-9]{1,16}", stamp):
            raise ValueError("not a number")
        seconds = int(stamp)
    except (ValueError, binascii.Error):
        raise SignatureError(
            "webhook-timestamp is not a number, or the configured secret is not base64"
        ) from None
    _check_time(seconds, now)
    expected = _hmac(key, f"{msg_id}.{seconds}.".encode() + body)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            presented = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            continue
        if hmac.compare_digest(expected, presented):
            return Verified(delivery_id=msg_id)
    raise SignatureError("no webhook-signature matches")


def verify_github(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    """GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; no timestamp."""
    header = headers.get("x-hub-signature-256", "")
    if not header.startswith("sha256="):
        raise SignatureError("X-Hub-Signature-256: sha256=<hex> is required")
    expected = "sha256=" + _hmac(secret.encode(), body).hex()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise SignatureError("X-Hub-Signature-256 does not match")
    return Verified(delivery_id=headers.get("x-github-delivery") or None, event=headers.get("x-github-event"))


def verify_ghost(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    """Ghost: `X-Ghost-Signature: sha256=<hex HMAC of body + ts>, t=<ms>`."""
    header = headers.get("x-ghost-signature", "")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    signature, stamp = parts.get("sha256"), parts.get("t")
    # ASCII digits only: `isdigit()` accepts "²", which int() then refuses.
    if not signature or not stamp or not re.fullmatch(r"[0-9]{1,16}", stamp):
        raise SignatureError("X-Ghost-Signature: sha256=<hex>, t=<ms> is required")
    _check_time(int(stamp) / 1000, now)
    expected = _hmac(secret.encode(), body + stamp.encode()).hex()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("X-Ghost-Signature does not match")
    # Ghost sends no delivery id; the signed (body, t) pair identifies one delivery.
    return Verified(delivery_id=f"{stamp}:{signature}")


def verify_wordpress(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
    """WooCommerce-style: `X-WC-Webhook-Signature: <base64 HMAC-SHA256 of the body>`; no timestamp."""
    header = headers.get("x-wc-webhook-signature", "")
    if not header:
        raise SignatureError("X-WC-Webhook-Signature is required")
    expected = base64.b64encode(_hmac(secret.encode(), body))
    if not hmac.compare_digest(expected, header.strip().encode()):
        raise SignatureError("X-WC-Webhook-Signature does not match")
    return Verified(delivery_id=headers.get("x-wc-webhook-delivery-id") or None)


VERIFIERS: dict[str, Verifier] = {
    "standard": verify_standard,
    "github": verify_github,
    "ghost": verify_ghost,
    "wordpress": verify_wordpress,
}

# A refused webhook is told what is wrong with the request (a missing header, a stale timestamp, a
# signature that does not match) and never whether this agency has this kind configured: an
# unconfigured webhook is checked against a random secret of this process, so it fails exactly like
# a wrong signature, after the same HMAC, in the same time. Which case it was goes to the log.
_DECOY_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def check_signature(
    kind: str, secret: str | None, body: bytes, headers: Mapping[str, str], now: float
) -> Verified:
    """The verified delivery, or SignatureError whose message depends on the request alone."""
    verified = VERIFIERS[kind](secret or _DECOY_SECRET, body, headers, now)
    if secret is None:  # a forgery of a random 256-bit key: not a case a caller can provoke
        raise SignatureError("the signature does not match")
    return verified


# --- signing, for tests and for agencies' own tools -----------------------------------------------


def sign_github(secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + _hmac(secret.encode(), body).hex()}


def sign_ghost(secret: str, body: bytes, ms: int) -> dict[str, str]:
    digest = _hmac(secret.encode(), body + str(ms).encode()).hex()
    return {"X-Ghost-Signature": f"sha256={digest}, t={ms}"}


def sign_wordpress(secret: str, body: bytes) -> dict[str, str]:
    return {"X-WC-Webhook-Signature": base64.b64encode(_hmac(secret.encode(), body)).decode()}


# --- payload mappers ----------------------------------------------------------------------------


def short_digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:24]


def _id_part(value: Any) -> str:
    """A provider's post id, kept if it is a safe id fragment, hashed otherwise."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text) else short_digest(text)


def short_form_platforms() -> tuple[str, ...]:
    """Platforms whose limit is too short for title + excerpt + tags + link: they get the title alone."""
    return tuple(name for name, adapter in load_adapters().items() if adapter.short_form)


def strip_html(value: str) -> str:
    text = re.sub(r"<[^>]+>", " ", value)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _clip(text: str, limit: int = EXCERPT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _rendered(value: Any) -> str:
    """WordPress fields are either strings or `{"rendered": "<html>"}`."""
    if isinstance(value, dict):
        value = value.get("rendered") or value.get("raw") or ""
    return strip_html(value) if isinstance(value, str) else ""


def post_item(
    agency: str,
    item_id: str,
    title: str,
    excerpt: str,
    link: str | None,
    image: str | None,
    image_alt: str | None,
    tags: list[str],
) -> Item:
    """An item from a CMS post: title and excerpt, the link, the feature image, tags as hashtags."""
    title, excerpt = title.strip(), _clip(excerpt.strip())
    if not title and not excerpt:
        raise PayloadError("the post has neither a title nor an excerpt")
    text = "\n\n".join(part for part in (title, excerpt) if part)
    document: dict[str, Any] = {
        "id": item_id,
        "agency": agency,
        "text": text,
        "tags": list(dict.fromkeys(tag.strip() for tag in tags if tag and tag.strip()))[:MAX_TAGS],
    }
    if title and excerpt:
        document["overrides"] = {platform: {"text": title} for platform in short_form_platforms()}
    if link:
        document["link"] = link
    if image:
        document["media"] = [{"url": image, "alt": image_alt} if image_alt else {"url": image}]
    try:
        return Item.model_validate(document)
    except ValidationError as error:
        raise PayloadError(describe(error)) from None


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'body'}: {detail['msg']}"
        for detail in error.errors()
    )


def map_ghost(agency: str, payload: Any) -> Item:
    """Ghost's `post.published` payload: `{"post": {"current": {...}, "previous": {...}}}`."""
    post = payload.get("post") if isinstance(payload, dict) else None
    current = post.get("current") if isinstance(post, dict) else None
    if not isinstance(current, dict):
        raise PayloadError('not a Ghost post webhook: expected {"post": {"current": {...}}}')
    status = current.get("status")
    if status is not None and status != "published":
        raise PayloadError(f"the post's status is {status!r}; subscribe this webhook to post.published")
    post_id = current.get("id") or current.get("uuid")
    if not post_id:
        raise PayloadError("post.current.id is missing")
    tags = [
        tag.get("name", "")
        for tag in current.get("tags") or []
        if isinstance(tag, dict)
        and tag.get("visibility", "public") == "public"
        and not str(tag.get("name", "")).startswith("#")
    ]
    return post_item(
        agency,
        f"ghost-{agency}-{_id_part(post_id)}",
        strip_html(str(current.get("title") or "")),
        strip_html(str(current.get("custom_excerpt") or current.get("excerpt") or "")),
        current.get("url") or current.get("canonical_url"),
        current.get("feature_image"),
        current.get("feature_image_alt"),
        tags,
    )


def _wordpress_tags(payload: dict[str, Any]) -> list[str]:
    names: list[str] = []
    raw = payload.get("tags")
    if isinstance(raw, list):  # names, or WooCommerce-style {"name": …}; REST term ids are skipped
        names += [
            t if isinstance(t, str) else str(t.get("name", "")) for t in raw if isinstance(t, str | dict)
        ]
    for group in (payload.get("_embedded") or {}).get("wp:term") or []:
        names += [
            str(term.get("name", ""))
            for term in group
            if isinstance(term, dict) and term.get("taxonomy") == "post_tag"
        ]
    taxonomies = (payload.get("taxonomies") or {}).get("post_tag")
    if isinstance(taxonomies, dict):
        names += [str(term.get("name", "")) for term in taxonomies.values() if isinstance(term, dict)]
    return names


def map_wordpress(agency: str, payload: Any) -> Item:
    """A WordPress post: the REST API shape (`title.rendered`, `excerpt.rendered`, `link`,
    `jetpack_featured_media_url` or `_embedded`), or the flat `post_title`/`post` shape of webhook plugins."""
    if not isinstance(payload, dict):
        raise PayloadError("not a WordPress post: expected a JSON object")
    nested = payload.get("post")
    merged: dict[str, Any] = {**(nested if isinstance(nested, dict) else {}), **payload}
    post_id = merged.get("id") or merged.get("ID") or merged.get("post_id")
    if not post_id:
        raise PayloadError("the post has no id (id, ID or post_id)")
    status = merged.get("status") or merged.get("post_status")
    if status is not None and status != "publish":
        raise PayloadError(f"the post's status is {status!r}, not 'publish'")
    title = _rendered(merged.get("title") or merged.get("post_title") or merged.get("name"))
    excerpt = _rendered(
        merged.get("excerpt") or merged.get("post_excerpt") or merged.get("short_description")
    )
    link = merged.get("link") or merged.get("permalink") or merged.get("post_permalink")
    image = (
        merged.get("jetpack_featured_media_url")
        or merged.get("featured_image_url")
        or merged.get("post_thumbnail")
    )
    alt = None
    media = (merged.get("_embedded") or {}).get("wp:featuredmedia") or []
    if not image and media and isinstance(media[0], dict):
        image, alt = media[0].get("source_url"), media[0].get("alt_text") or None
    images = merged.get("images")
    if not image and isinstance(images, list) and images and isinstance(images[0], dict):
        image, alt = images[0].get("src"), images[0].get("alt") or None
    return post_item(
        agency,
        f"wp-{agency}-{_id_part(post_id)}",
        title,
        excerpt,
        link if isinstance(link, str) and link else None,
        image if isinstance(image, str) and image else None,
        alt,
        _wordpress_tags(merged),
    )


def map_item(agency: str, payload: Any, derived_id: str) -> Item:
    """`standard` and `github` carry an item as JSON; its agency is the path's (or must equal it)."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be an item: a JSON object")
    given = payload.get("agency")
    if given is not None and given != agency:
        raise PayloadError(f"the item's agency {given!r} is not the webhook's agency {agency!r}")
    document = {**payload, "agency": agency}
    document.setdefault("id", derived_id)
    try:
        return Item.model_validate(document)
    except ValidationError as error:
        raise PayloadError(describe(error)) from None


def to_item(kind: str, agency: str, payload: Any, body: bytes, verified: Verified) -> Item:
    """The item a verified webhook carries; ids without one are derived from signed material."""
    if kind == "ghost":
        return map_ghost(agency, payload)
    if kind == "wordpress":
        return map_wordpress(agency, payload)
    # Standard Webhooks sign their id; GitHub's delivery id is unsigned, so the body names the item.
    basis = verified.delivery_id if kind == "standard" and verified.delivery_id else body
    return map_item(agency, payload, f"{kind}-{agency}-{short_digest(kind, agency, basis)}")
