"""The synergy report as one HTML file: right-to-left, Persian labels and digits, Jalali dates,
inline SVG charts drawn by pygal, no script and no network access, so it opens offline anywhere.

pygal lays its axes out left to right; inside the RTL page each chart sits in an LTR box, which keeps
pygal's text anchors right while the Persian labels in it still read right to left (the browser's
bidi algorithm works per text node). The tooltips' script, which pygal loads from a CDN, is left out.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pygal
from pygal.style import Style

from services.reach.report.labels import LABELS, day_text, excerpt, moment_text, number, percent
from services.reach.report.model import METRICS, AgencyRow, Report

FONTS = "Vazirmatn, Vazir, Sahel, Tahoma, 'DejaVu Sans', 'Noto Sans Arabic', sans-serif"
SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
COLORS = ("#0f766e", "#f59e0b", "#6366f1", "#e11d48", "#0891b2", "#84cc16", "#a855f7")

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --brand: #0f766e; --soft: #f0fdfa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: %(fonts)s; color: var(--ink); background: #f8fafc; line-height: 1.7; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--brand); margin-bottom: 20px; padding-bottom: 12px; }
h1 { margin: 0; font-size: 30px; color: var(--brand); }
h2 { font-size: 20px; margin: 30px 0 10px; border-inline-start: 5px solid var(--brand); padding-inline-start: 10px; }
.sub { color: var(--muted); margin: 4px 0; }
.meta { color: var(--muted); font-size: 14px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 18px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; }
.card b { display: block; font-size: 24px; color: var(--brand); }
.card span { color: var(--muted); font-size: 13px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 10px 12px; }
.panel h3 { margin: 4px 4px 0; font-size: 15px; }
.chart svg { direction: ltr; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 6px 0; font-size: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-inline-end: 6px; }
.chart svg { width: 100%%; height: auto; display: block; }
.scroll { overflow-x: auto; }
table { width: 100%%; border-collapse: collapse; background: #fff; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: start; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.n { text-align: end; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.heat { text-align: center; font-weight: 600; }
td.self { background: #f3f4f6; color: var(--muted); text-align: center; }
.note { color: var(--muted); font-size: 12px; margin-top: 4px; white-space: normal; min-width: 7em; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


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
        # pygal's own legend clips Persian text; an HTML legend (`_legend`) goes above each chart.
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


def _legend(names: list[str]) -> str:
    keys = "".join(
        f"<span><i style='background:{COLORS[index % len(COLORS)]}'></i>{_esc(name)}</span>"
        for index, name in enumerate(names)
    )
    return f"<div class='legend'>{keys}</div>"


def charts(report: Report, lang: str) -> dict[str, str]:
    label = LABELS[lang]
    agencies = report.agencies
    names = [a.name for a in agencies]
    found: dict[str, str] = {}

    reach = _chart(pygal.HorizontalStackedBar, lang, width=1100, height=120 + 60 * max(len(agencies), 1))
    reach.x_labels = names
    reach.add(label["own_reach"], [a.own_potential_reach for a in agencies])
    reach.add(label["amp_reach"], [a.amplifications_received.potential_reach for a in agencies])
    found["reach"] = _legend([label["own_reach"], label["amp_reach"]]) + _svg(reach)

    amplification = _chart(pygal.Bar, lang, width=540, height=400, x_label_rotation=30)
    amplification.x_labels = [a.agency for a in agencies]
    amplification.add(label["amp_received"], [a.amplifications_received.count for a in agencies])
    amplification.add(label["amp_given"], [a.amplifications_given.count for a in agencies])
    found["amplification"] = _legend([label["amp_received"], label["amp_given"]]) + _svg(amplification)

    per_platform = _chart(pygal.Bar, lang, width=540, height=380)
    per_platform.x_labels = [p.title for p in report.platforms]
    per_platform.add(label["own_posts"], [p.own_posts for p in report.platforms])
    per_platform.add(label["amplifications"], [p.amplifications for p in report.platforms])
    found["platforms"] = _legend([label["own_posts"], label["amplifications"]]) + _svg(per_platform)

    engagement = _chart(pygal.Bar, lang, width=1100, height=380, x_label_rotation=20)
    engagement.x_labels = [a.agency for a in agencies]
    for metric in ("impressions", "likes", "reposts"):
        engagement.add(label[metric], [getattr(a.engagement, metric) for a in agencies])
    found["engagement"] = _legend([label[m] for m in ("impressions", "likes", "reposts")]) + _svg(engagement)
    return found


def render_html(report: Report, lang: str = "fa", calendar: str = "jalali") -> str:
    label = LABELS[lang]
    direction = "rtl" if lang == "fa" else "ltr"
    t = report.totals

    def n(value: float | None) -> str:
        return _esc(number(value, lang))

    generated = report.generated_at
    filters = report.filters
    filter_text = " | ".join(
        f"{label[key]}: {_esc(value if value is not None else label['all'])}"
        for key, value in (
            ("campaign", filters.campaign),
            ("agency", filters.agency),
            ("since", filters.since),
            ("until", filters.until),
        )
    )
    cards = [
        (t.items, label["items"]),
        (t.own_posts, label["own_posts"]),
        (t.amplifications, label["amplifications"]),
        (t.potential_reach, label["potential_reach"]),
        (t.amplification_reach, label["amp_reach"]),
        (t.engagement.impressions, label["impressions"]),
        (t.engagement.likes, label["likes"]),
    ]
    card_html = "".join(f"<div class='card'><b>{n(v)}</b><span>{_esc(k)}</span></div>" for v, k in cards)
    card_html += (
        f"<div class='card'><b>{_esc(percent(t.isolation, lang))}</b>"
        f"<span>{_esc(label['isolation'])}</span></div>"
    )
    svg = charts(report, lang)

    titles = {p.platform: p.title for p in report.platforms}
    head = "".join(
        f"<th>{_esc(h)}</th>"
        for h in (
            label["agency"],
            label["items"],
            label["own_posts"],
            label["amp_received"],
            label["amp_reach"],
            label["amp_given"],
            *(label[m] for m in METRICS),
            label["own_reach"],
            label["isolation"],
        )
    )

    def per_platform(a: AgencyRow) -> str:
        parts = [f"{titles.get(p, p)} {number(c, lang)}" for p, c in sorted(a.own_posts.items()) if c]
        return ("، " if lang == "fa" else ", ").join(parts)

    rows = []
    for a in report.agencies:
        received = a.amplifications_received
        by = (
            "، ".join(f"{k} ({number(v, lang)})" for k, v in sorted(received.counterparts.items()))
            if lang == "fa"
            else ", ".join(f"{k} ({v})" for k, v in sorted(received.counterparts.items()))
        )
        cells = [
            f"<td><b>{_esc(a.name)}</b><div class='note'>{_esc(a.agency)}</div></td>",
            f"<td class='n'>{n(a.items)}</td>",
            f"<td class='n'>{n(a.own_posts_total)}<div class='note'>{_esc(per_platform(a))}</div></td>",
            f"<td class='n'>{n(received.count)}<div class='note'>{_esc(by)}</div></td>",
            f"<td class='n'>{n(received.potential_reach)}</td>",
            f"<td class='n'>{n(a.amplifications_given.count)}</td>",
            *(f"<td class='n'>{n(getattr(a.engagement, m))}</td>" for m in METRICS),
            f"<td class='n'>{n(a.own_potential_reach)}</td>",
            f"<td class='n'>{_esc(percent(a.isolation, lang))}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    agency_table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    matrix = report.matrix
    peak = max((c for row in matrix.counts for c in row), default=0) or 1
    matrix_rows = []
    for amplifier, counts in zip(matrix.agencies, matrix.counts, strict=True):
        cells = []
        for origin, count in zip(matrix.agencies, counts, strict=True):
            if origin == amplifier:
                cells.append("<td class='self'>—</td>")
                continue
            alpha = 0.12 + 0.78 * count / peak if count else 0
            color = "#fff" if alpha > 0.55 else "#111827"
            cells.append(
                f"<td class='heat' style='background: rgba(15,118,110,{alpha:.2f}); color: {color}'>{n(count)}</td>"
            )
        matrix_rows.append(
            f"<tr><th>{_esc(matrix.names.get(amplifier, amplifier))}</th>{''.join(cells)}</tr>"
        )
    matrix_head = "".join(f"<th>{_esc(matrix.names.get(o, o))}</th>" for o in matrix.agencies)
    matrix_table = (
        f"<table><thead><tr><th>{_esc(label['amplifier'])} ↓ / {_esc(label['origin'])} ←</th>"
        f"{matrix_head}</tr></thead><tbody>{''.join(matrix_rows)}</tbody></table>"
    )

    platform_rows = "".join(
        "<tr>"
        + f"<td>{_esc(p.title)}</td>"
        + "".join(
            f"<td class='n'>{n(p.to_dict()[c])}</td>"
            for c in ("accounts", "own_posts", "amplifications", *METRICS, "potential_reach")
        )
        + "</tr>"
        for p in report.platforms
    )
    platform_head = "".join(
        f"<th>{_esc(label[c])}</th>"
        for c in ("platform", "accounts", "own_posts", "amplifications", *METRICS, "potential_reach")
    )
    platform_table = f"<table><thead><tr>{platform_head}</tr></thead><tbody>{platform_rows}</tbody></table>"

    item_rows = []
    for i in report.top_items:
        item_rows.append(
            "<tr>"
            f"<td>{_esc(excerpt(i.text, 90))}<div class='note'>{_esc(i.item_id)}</div></td>"
            f"<td>{_esc(i.name)}</td>"
            f"<td class='n'>{_esc(day_text(i.received_at, calendar, lang, long=True))}</td>"
            f"<td class='n'>{n(i.amplifications)}<div class='note'>{_esc('، '.join(sorted(i.amplified_by)))}</div></td>"
            f"<td class='n'>{n(i.engagement.impressions)}</td>"
            f"<td class='n'>{n(i.engagement.likes)}</td>"
            f"<td class='n'>{n(i.potential_reach)}</td>"
            "</tr>"
        )
    item_head = "".join(
        f"<th>{_esc(label[c])}</th>"
        for c in ("text", "agency", "date", "amplifications", "impressions", "likes", "potential_reach")
    )
    items_table = f"<table><thead><tr>{item_head}</tr></thead><tbody>{''.join(item_rows)}</tbody></table>"

    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="{direction}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(label["title"])} — هم‌افزا</title>
<style>{CSS % {"fonts": FONTS}}</style>
</head>
<body>
<main>
<header>
<h1>{_esc(label["title"])} — هم‌افزا</h1>
<p class="sub">{_esc(label["subtitle"])}</p>
<p class="meta">{_esc(label["generated"])}: {_esc(moment_text(generated, calendar, lang))} | {filter_text}</p>
</header>
<section class="cards">{card_html}</section>
<h2>{_esc(label["chart_reach"])}</h2>
<div class="panel chart">{svg["reach"]}</div>
<div class="grid2">
<div class="panel"><h3>{_esc(label["chart_amp"])}</h3><div class="chart">{svg["amplification"]}</div></div>
<div class="panel"><h3>{_esc(label["chart_platforms"])}</h3><div class="chart">{svg["platforms"]}</div></div>
</div>
<h2>{_esc(label["per_agency"])}</h2>
<div class='scroll'>{agency_table}</div>
<p class="note">{_esc(label["note_reach"])}</p>
<h2>{_esc(label["matrix"])}</h2>
<div class='scroll'>{matrix_table}</div>
<h2>{_esc(label["chart_impressions"])}</h2>
<div class="panel chart">{svg["engagement"]}</div>
<h2>{_esc(label["per_platform"])}</h2>
<div class='scroll'>{platform_table}</div>
<h2>{_esc(label["top_items"])}</h2>
<div class='scroll'>{items_table}</div>
<footer>{_esc(label["measured"])}: {n(t.measured_posts)} | {_esc(label["unmeasured"])}: {n(t.unmeasured_posts)}
| {_esc(report.schema)}</footer>
</main>
</body>
</html>
"""
