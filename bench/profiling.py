"""Summarising a cProfile dump of the worker: where the time goes, by function and by package."""

from __future__ import annotations

import io
import pstats
from collections import defaultdict
from typing import Any

PACKAGES = [
    ("services/", "hamafza services"),
    ("schemas/", "hamafza schemas"),
    ("bench/", "bench adapter"),
    ("faststream/", "faststream"),
    ("fast_depends/", "fast_depends"),
    ("redis/", "redis-py"),
    ("pydantic", "pydantic"),
    ("structlog/", "structlog"),
    ("logging/", "stdlib logging"),
    ("json/", "json"),
    ("asyncio/", "asyncio"),
    ("uuid", "uuid"),
]


def package_of(filename: str) -> str:
    for needle, name in PACKAGES:
        if needle in filename:
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    return "other"


def summarise(path: str, top: int = 25) -> tuple[dict[str, Any], str]:
    stats = pstats.Stats(path)
    raw: Any = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    by_package: dict[str, float] = defaultdict(float)
    rows = []
    for (filename, line, name), (_cc, calls, tt, ct, _callers) in raw.items():
        label = package_of(filename)
        if label == "builtins (C)":
            # Attribute C calls (json, sockets, select…) to themselves, named.
            label = f"C: {name.split(' of ')[0].strip('<>{}')[:40]}" if "method" in name else "C: builtins"
        by_package[label] += tt
        rows.append((ct, tt, calls, f"{short(filename)}:{line}({name})"))
    rows.sort(reverse=True)
    cumulative = [
        {
            "function": fn,
            "cum_pct": round(ct / total * 100, 1),
            "self_pct": round(tt / total * 100, 1),
            "calls": n,
        }
        for ct, tt, n, fn in rows
        if not fn.startswith("~") and "asyncio/events.py" not in fn
    ]
    own = sorted(rows, key=lambda r: r[1], reverse=True)
    summary = {
        "profiled_cpu_s": round(total, 2),
        "self_time_by_package_pct": {
            k: round(v / total * 100, 1)
            for k, v in sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
            if v / total >= 0.01
        },
        "top_cumulative": cumulative[:top],
        "top_self": [
            {"function": fn, "self_pct": round(tt / total * 100, 1), "calls": n}
            for _ct, tt, n, fn in own[:top]
        ],
    }
    text = io.StringIO()
    pstats.Stats(path, stream=text).sort_stats("cumulative").print_stats(60)
    pstats.Stats(path, stream=text).sort_stats("tottime").print_stats(40)
    return summary, text.getvalue()


def short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
