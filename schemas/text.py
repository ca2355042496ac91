"""The text policy: which invisible characters an item's text may carry (docs/text-policy.md).

Control characters (C0 but tab and newline, DEL, C1) and the bidi embeddings, overrides and isolates
(U+202A–U+202E, U+2066–U+2069) are stripped from every text an agency sends: they are invisible,
they can make a post read differently from what its author checked ("Trojan Source", CVE-2021-42574),
and no platform needs them. ZWNJ (U+200C), ZWJ (U+200D), LRM (U+200E), RLM (U+200F) and ALM (U+061C)
are how Persian is written correctly and stay. A carriage return becomes nothing (CRLF → LF).
"""

from __future__ import annotations

import re

# C0 except \t and \n; DEL and C1; bidi embeddings/overrides (LRE RLE PDF LRO RLO) and isolates
# (LRI RLI FSI PDI). Kept on purpose: U+200C ZWNJ, U+200D ZWJ, U+200E LRM, U+200F RLM, U+061C ALM.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """`value` without the characters the policy strips."""
    return UNSAFE.sub("", value)


def clean_required_text(value: str) -> str:
    """`clean_text`, refusing a text that had nothing else (it would post an empty message)."""
    cleaned = clean_text(value).strip()
    if not cleaned:
        raise ValueError("the text is empty once control and bidi-override characters are removed")
    return cleaned
