"""The report's charts: inline SVG drawn by pygal, no script, agencies by their Persian names.

pygal lays its axes out left to right; inside the RTL page each chart sits in an LTR box, which keeps
pygal's text anchors right while the Persian labels in it still read right to left (the browser's
bidi algorithm works per text node). Agency names go on the vertical axis of horizontal bars, never
on a rotated axis, so no label is clipped; pygal's own legend clips Persian text, so an HTML legend
(`legend`) goes above each chart. The tooltips' script, which pygal loads from a CDN, is left out.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pygal
from pygal.style import Style

from services.reach.report.labels import LABELS, number
from services.reach.report.model import Report

FONTS = "Vazirmatn, Vazir, Sahel, Tahoma, 'DejaVu Sans', 'Noto Sans Arabic', sans-serif"
SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
COLORS = ("#0f766e", "#f59e0b", "#6366f1", "#e11d48", "#0891b2", "#84cc16", "#a855f7", "#64748b")


def _style() -> Style:
    return Style(
        font_family=FONTS,
        background="transparent",
        plot_background="transparent",
        foreground="#374151",
        foreground_strong="#111827",
        foreground_subtle="#e5e7eb",
        colors=COLORS,
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=14,
        title_font_size=16,
        value_font_size=12,
        tooltip_font_size=12,
    )


def _chart(kind: Any, lang: str, **config: Any) -> Any:
    return kind(
        style=_style(),
        js=[],  # pygal's tooltip script comes from a CDN; the report works offline without it
        disable_xml_declaration=True,
        show_legend=False,
        truncate_label=-1,
        truncate_legend=-1,
        value_formatter=lambda value: number(int(value), lang) if value is not None else "",
        print_values=False,
        margin=12,
        **config,
    )


def _svg(chart: Any) -> str:
    # pygal always embeds its config for the (absent) tooltip script; a static chart needs neither.
    return SCRIPT.sub("", str(chart.render(is_unicode=True)))


def legend(names: list[str]) -> str:
    keys = "".join(
        f"<span><i style='background:{COLORS[index % len(COLORS)]}'></i>{html.escape(name)}</span>"
        for index, name in enumerate(names)
    )
    return f"<div class='legend'>{keys}</div>"


def _height(rows: int) -> int:
    return 110 + 44 * max(rows, 1)


def charts(report: Report, lang: str) -> dict[str, str]:
    label = LABELS[lang]
    agencies = report.agencies
    names = [a.name for a in agencies]
    found: dict[str, str] = {}

    reach = _chart(pygal.HorizontalStackedBar, lang, width=1000, height=_height(len(agencies)))
    reach.x_labels = names
    reach.add(label["own_reach"], [a.own_potential_reach for a in agencies])
    reach.add(label["amp_reach"], [a.amplifications_received.potential_reach for a in agencies])
    found["reach"] = legend([label["own_reach"], label["amp_reach"]]) + _svg(reach)

    amplification = _chart(pygal.HorizontalBar, lang, width=1000, height=_height(len(agencies)))
    amplification.x_labels = names
    amplification.add(label["amp_received"], [a.amplifications_received.count for a in agencies])
    amplification.add(label["amp_given"], [a.amplifications_given.count for a in agencies])
    found["amplification"] = legend([label["amp_received"], label["amp_given"]]) + _svg(amplification)

    per_platform = _chart(pygal.HorizontalBar, lang, width=1000, height=_height(len(report.platforms)))
    per_platform.x_labels = [p.title for p in report.platforms]
    per_platform.add(label["own_posts"], [p.own_posts for p in report.platforms])
    per_platform.add(label["amplifications"], [p.amplifications for p in report.platforms])
    found["platforms"] = legend([label["own_posts"], label["amplifications"]]) + _svg(per_platform)

    # Views per agency, one series per platform that exposes them: never summed under one platform.
    titles = {p.platform: p.title for p in report.platforms}
    measured = sorted(
        {p for a in agencies for p, e in a.engagement_by_platform.items() if e.impressions},
    )
    views = _chart(pygal.HorizontalStackedBar, lang, width=1000, height=_height(len(agencies)))
    views.x_labels = names
    for platform in measured:
        views.add(
            titles.get(platform, platform),
            [
                a.engagement_by_platform[platform].impressions if platform in a.engagement_by_platform else 0
                for a in agencies
            ],
        )
    found["views"] = legend([titles.get(p, p) for p in measured]) + _svg(views)
    return found
