"""The synergy report as one HTML file: right-to-left, Persian labels, names and digits, Jalali dates,
inline SVG charts (`charts.py`), no script and no network access, so it opens offline anywhere.

Sections follow the evaluation cycle (outputs, out-takes, responsiveness, isolation, trends, campaigns,
rankings, outcomes); each `<section id=…>` says in one line per figure what the figure means. Print
styles lay it out on A4 landscape with every column of every table on the page (tables wrap their
headers and shrink their type rather than overflow); `--format pdf` prints this same page.
"""

from __future__ import annotations

from services.reach.report.charts import FONTS, charts
from services.reach.report.html_parts import CSS, PageBase, escape_html, html_table
from services.reach.report.labels import (
    LABELS,
    day_text,
    digits,
    duration,
    excerpt,
    moment_text,
    number,
    percent,
)
from services.reach.report.model import METRICS, AgencyRow, Report

SECTIONS = (
    "summary",
    "outputs",
    "outtakes",
    "responsiveness",
    "isolation",
    "trends",
    "campaigns",
    "rankings",
    "outcomes",
    "top-items",
)


class _Page(PageBase):
    # --- sections ------------------------------------------------------------------------------

    def summary(self) -> str:
        t, lb, lang = self.report.totals, self.label, self.lang
        return (
            "<section id='summary'>"
            + self.cards(
                [
                    (number(t.items, lang), lb["items"]),
                    (number(t.own_posts, lang), lb["own_posts"]),
                    (number(t.amplifications, lang), lb["amplifications"]),
                    (number(t.potential_reach, lang), lb["potential_reach"]),
                    (number(t.amplification_reach, lang), lb["amp_reach"]),
                    (percent(t.isolation, lang), lb["isolation"]),
                    (number(t.failed_items, lang), lb["failed_items"]),
                    (number(t.failed, lang), lb["failed"]),
                ]
            )
            + self.explain(
                "explain_items",
                "explain_own_posts",
                "explain_amplifications",
                "explain_potential_reach",
                "explain_isolation",
                "explain_failed",
            )
            + "</section>"
        )

    def outputs(self, svg: dict[str, str]) -> str:
        lb = self.label

        def own(a: AgencyRow) -> str:
            parts = [
                f"{self.titles.get(p, p)} {number(c, self.lang)}" for p, c in sorted(a.own_posts.items()) if c
            ]
            return self.sep.join(parts)

        rows = []
        for a in self.report.agencies:
            received = a.amplifications_received
            by = self.sep.join(
                f"{self.name(k)} ({number(v, self.lang)})"
                for k, v in sorted(received.counterparts.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            rows.append(
                [
                    f"<td><b>{escape_html(a.name)}</b></td>",
                    self.num(a.items),
                    f"<td class='n'>{self.n(a.own_posts_total)}<div class='note'>{escape_html(own(a))}</div></td>",
                    f"<td class='n'>{self.n(received.count)}<div class='note'>{escape_html(by)}</div></td>",
                    self.num(a.amplifications_given.count),
                    self.num(a.own_potential_reach),
                    self.num(received.potential_reach),
                    f"<td class='n'>{escape_html(percent(a.coverage, self.lang))}<div class='note'>"
                    f"{escape_html(self.sep.join(self.titles.get(p, p) for p in a.channels))}</div></td>",
                    self.num(a.failed),
                ]
            )
        table = html_table(
            [
                lb["agency"],
                lb["items"],
                lb["own_posts"],
                lb["amp_received"],
                lb["amp_given"],
                lb["own_reach"],
                lb["amp_reach"],
                lb["coverage"],
                lb["failed"],
            ],
            rows,
            lb["nothing"],
        )
        matrix = self.report.matrix
        peak = max((c for row in matrix.counts for c in row), default=0) or 1
        matrix_rows = []
        for amplifier, counts in zip(matrix.agencies, matrix.counts, strict=True):
            cells = [f"<th>{escape_html(self.name(amplifier))}</th>"]
            for origin, count in zip(matrix.agencies, counts, strict=True):
                if origin == amplifier:
                    cells.append("<td class='self'>—</td>")
                    continue
                alpha = 0.12 + 0.78 * count / peak if count else 0
                color = "#fff" if alpha > 0.55 else "#111827"
                cells.append(
                    f"<td class='heat' style='background: rgba(15,118,110,{alpha:.2f}); color: {color}'>"
                    f"{self.n(count)}</td>"
                )
            matrix_rows.append(cells)
        matrix_table = html_table(
            [f"{lb['amplifier']} ↓ / {lb['origin']} ←", *(self.name(o) for o in matrix.agencies)],
            matrix_rows,
            lb["nothing"],
        )
        return self.section(
            "outputs",
            lb["outputs"],
            self.explain(
                "explain_own_posts", "explain_amplifications", "explain_potential_reach", "explain_coverage"
            )
            + f"<h3>{escape_html(lb['per_agency'])}</h3>{table}"
            + f"<h3>{escape_html(lb['chart_reach'])}</h3><div class='panel chart'>{svg['reach']}</div>"
            + f"<h3>{escape_html(lb['chart_amp'])}</h3><div class='panel chart'>{svg['amplification']}</div>"
            + f"<h3>{escape_html(lb['matrix'])}</h3>{self.explain('explain_matrix')}{matrix_table}"
            + f"<h3>{escape_html(lb['chart_platforms'])}</h3><div class='panel chart'>{svg['platforms']}</div>",
        )

    def outtakes(self, svg: dict[str, str]) -> str:
        lb = self.label
        rows = [
            [
                f"<td>{escape_html(a.name)}</td>",
                f"<td>{escape_html(self.titles.get(platform, platform))}</td>",
                *(self.num(getattr(engagement, m)) for m in METRICS),
            ]
            for a in self.report.agencies
            for platform, engagement in sorted(a.engagement_by_platform.items())
        ]
        table = html_table([lb["agency"], lb["platform"], *(lb[m] for m in METRICS)], rows, lb["nothing"])
        platform_rows = [
            [
                f"<td>{escape_html(p.title)}</td>",
                *(
                    self.num(p.to_dict()[c])
                    for c in ("accounts", "own_posts", "amplifications", *METRICS, "potential_reach")
                ),
            ]
            for p in self.report.platforms
        ]
        platform_table = html_table(
            [
                lb[c]
                for c in ("platform", "accounts", "own_posts", "amplifications", *METRICS, "potential_reach")
            ],
            platform_rows,
            lb["nothing"],
        )
        return self.section(
            "outtakes",
            lb["outtakes"],
            self.views_note()
            + self.explain("explain_engagement")
            + f"<h3>{escape_html(lb['chart_views'])}</h3><div class='panel chart'>{svg['views']}</div>"
            + f"<h3>{escape_html(lb['engagement_by_platform'])}</h3>{table}"
            + f"<h3>{escape_html(lb['per_platform'])}</h3>{self.explain('explain_platforms')}{platform_table}"
            + self.followers(),
        )

    def followers(self) -> str:
        points = self.report.cycle.followers
        months = sorted({p["period"] for p in points})
        accounts = sorted({(p["agency"], p["platform"]) for p in points})
        seen = {(p["agency"], p["platform"], p["period"]): p["audience"] for p in points}
        rows = [
            [
                f"<td>{escape_html(self.name(agency))}</td>",
                f"<td>{escape_html(self.titles.get(platform, platform))}</td>",
                *(self.num(seen.get((agency, platform, month))) for month in months),
            ]
            for agency, platform in accounts
        ]
        head = [self.label["agency"], self.label["platform"], *(digits(m, self.lang) for m in months)]
        return (
            f"<h3>{escape_html(self.label['followers'])}</h3>"
            + self.explain("explain_followers")
            + html_table(head, rows, self.label["nothing"])
        )

    def views_note(self) -> str:
        viewed = [p.title for p in self.report.platforms if p.engagement.impressions]
        text = self.label["explain_views"].format(platforms=self.sep.join(viewed) or self.label["none"])
        return f"<p class='explain'>{escape_html(text)}</p>"

    def responsiveness(self) -> str:
        r, lb, lang = self.report.cycle.responsiveness, self.label, self.lang
        cards = self.cards(
            [
                (duration(r.first_amplification_seconds, lang), lb["first_amp"]),
                (duration(r.median_amplification_seconds, lang), lb["median_amp"]),
                (number(r.amplified_items, lang), lb["amplified_items"]),
                (number(r.approvals_granted, lang), lb["approvals_granted"]),
                (number(r.approvals_declined, lang), lb["approvals_declined"]),
                (number(r.approvals_expired, lang), lb["approvals_expired"]),
                (number(r.approvals_awaiting, lang), lb["approvals_awaiting"]),
                (number(r.intents_requested, lang), lb["intents_requested"]),
            ]
        )
        rows = [
            [
                f"<td>{escape_html(a.name)}</td>",
                f"<td class='n'>{escape_html(duration(a.first_amplification_seconds, lang))}</td>",
            ]
            for a in self.report.agencies
        ]
        return self.section(
            "responsiveness",
            lb["responsiveness"],
            cards
            + self.explain("explain_first_amp", "explain_median_amp", "explain_approvals")
            + html_table([lb["agency"], lb["first_amp"]], rows, lb["nothing"]),
        )

    def isolation(self) -> str:
        lb = self.label
        rows = [
            [
                f"<td>{escape_html(a.name)}</td>",
                self.num(a.items),
                self.num(a.isolated_items),
                self.num(a.failed_items),
                f"<td class='n'>{escape_html(percent(a.isolation, self.lang))}</td>",
            ]
            for a in sorted(self.report.agencies, key=lambda a: (-(a.isolation or 0), -a.items, a.agency))
        ]
        return self.section(
            "isolation",
            lb["isolation_section"],
            self.explain("explain_isolation")
            + html_table(
                [lb["agency"], lb["items"], lb["isolated_items"], lb["failed_items"], lb["isolation"]],
                rows,
                lb["nothing"],
            ),
        )

    def top_items(self) -> str:
        lb = self.label
        rows = [
            [
                f"<td>{escape_html(excerpt(i.text, 90))}</td>",
                f"<td>{escape_html(i.name)}</td>",
                f"<td class='n'>{escape_html(day_text(i.received_at, self.calendar, self.lang, long=True))}</td>",
                f"<td class='n'>{self.n(i.amplifications)}<div class='note'>"
                f"{escape_html(self.sep.join(self.name(a) for a in sorted(i.amplified_by)))}</div></td>",
                self.num(i.engagement.impressions),
                self.num(i.engagement.likes),
                self.num(i.potential_reach),
            ]
            for i in self.report.top_items
        ]
        head = [
            lb[c]
            for c in ("text", "agency", "date", "amplifications", "impressions", "likes", "potential_reach")
        ]
        return self.section(
            "top-items", lb["top_items"], self.explain("explain_top") + html_table(head, rows, lb["nothing"])
        )


def render_html(report: Report, lang: str = "fa", calendar: str = "jalali") -> str:
    page = _Page(report, lang, calendar)
    label = LABELS[lang]
    direction = "rtl" if lang == "fa" else "ltr"
    filters = report.filters
    filter_text = " | ".join(
        f"{label[key]}: {escape_html(value if value is not None else label['all'])}"
        for key, value in (
            ("campaign", filters.campaign),
            ("agency", page.name(filters.agency) if filters.agency else None),
            ("since", filters.since),
            ("until", filters.until),
        )
    )
    svg = charts(report, lang)
    t = report.totals
    body = "".join(
        (
            page.summary(),
            page.outputs(svg),
            page.outtakes(svg),
            page.responsiveness(),
            page.isolation(),
            page.trends(),
            page.campaigns(),
            page.rankings(),
            page.outcomes(),
            page.top_items(),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="{direction}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape_html(label["title"])} — هم‌افزا</title>
<style>{CSS % {"fonts": FONTS}}</style>
</head>
<body>
<main>
<header>
<h1>{escape_html(label["title"])} — هم‌افزا</h1>
<p class="sub">{escape_html(label["subtitle"])}</p>
<p class="meta">{escape_html(label["generated"])}: {escape_html(moment_text(report.generated_at, calendar, lang))}
| {filter_text}</p>
</header>
{body}
<footer>{escape_html(label["measured"])}: {page.n(t.measured_posts)} | {escape_html(label["unmeasured"])}:
{page.n(t.unmeasured_posts)} | {escape_html(report.schema)}</footer>
</main>
</body>
</html>
"""
