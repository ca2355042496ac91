"""The wording of `copy` amplifications: pure functions, no I/O.

A copy is a partner posting the item itself under its own wording, from a template with the fields
{text} {origin} {partner} {origin_url}. No two accounts may post the same text for one item (the
platforms' rule against coordinated identical posts): a copy that would equal the original or
another partner's copy is signed with the partner's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """One partner's copy of one post: the template and what fills it."""

    partner: str  # the partner's slug, the last resort to tell two copies apart
    template: str
    text: str  # the item's text as the original post carried it
    origin: str  # the origin agency's name
    partner_name: str
    origin_url: str


def render_copy(request: CopyRequest, text: str | None = None, signature: str = "") -> str:
    """The template filled in (with `text` in place of the item's, when it had to be cut), and the
    signature, if any, on a line of its own."""
    rendered = request.template.format(
        text=request.text if text is None else text,
        origin=request.origin,
        partner=request.partner_name,
        origin_url=request.origin_url,
    ).strip()
    return f"{rendered}\n\n{signature}" if signature else rendered


def distinct_copies(original: str, requests: Sequence[CopyRequest]) -> list[tuple[CopyRequest, str]]:
    """Each request with its signature: every copy that equals the original or another copy is
    signed with the partner's name (and its slug, should two partners share a name), so that no two
    texts of the item are the same."""
    signatures = [""] * len(requests)
    for sign in (lambda r: r.partner_name, lambda r: f"{r.partner_name} ({r.partner})"):
        rendered = [render_copy(r, signature=s) for r, s in zip(requests, signatures, strict=True)]
        seen = [original, *rendered]
        signatures = [
            sign(request) if seen.count(text) > 1 else signature
            for request, text, signature in zip(requests, rendered, signatures, strict=True)
        ]
    return list(zip(requests, signatures, strict=True))


def fit_copy(request: CopyRequest, signature: str, measure: Callable[[str], int], limit: int) -> str | None:
    """The copy within `limit`: the item's text is cut at a word boundary, with "…", until the whole
    fits; None if even one word does not fit beside the template's own words."""
    whole = render_copy(request, signature=signature)
    if measure(whole) <= limit:
        return whole
    ends = [word.end() for word in re.finditer(r"\S+", request.text)]
    low, high, best = 1, len(ends) - 1, None
    while low <= high:
        middle = (low + high) // 2
        candidate = render_copy(request, request.text[: ends[middle - 1]] + ELLIPSIS, signature)
        if measure(candidate) <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best
