"""The HTML report's shared pieces: its screen and print styles, a table, and the sections that follow
the evaluation cycle past the per-agency figures (trends, campaigns, rankings, outcomes)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from services.reach.report.labels import LABELS, digits, duration, number, percent
from services.reach.report.model import Report

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --brand: #0f766e; --soft: #f0fdfa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: %(fonts)s; color: var(--ink); background: #f8fafc; line-height: 1.7; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--brand); margin-bottom: 20px; padding-bottom: 12px; }
h1 { margin: 0; font-size: 30px; color: var(--brand); }
h2 { font-size: 20px; margin: 30px 0 10px; border-inline-start: 5px solid var(--brand); padding-inline-start: 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.sub { color: var(--muted); margin: 4px 0; }
.meta { color: var(--muted); font-size: 14px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 14px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 10px 14px; }
.card b { display: block; font-size: 22px; color: var(--brand); }
.card span { color: var(--muted); font-size: 13px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 10px 12px; margin: 10px 0; }
.chart svg { direction: ltr; width: 100%%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 6px 0; font-size: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-inline-end: 6px; }
.explain { color: var(--muted); font-size: 13px; margin: 2px 0; }
table { width: 100%%; border-collapse: collapse; background: #fff; font-size: 14px; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 5px 7px; text-align: start; vertical-align: top;
  overflow-wrap: break-word; }
th { background: var(--soft); font-weight: 600; }
td.n { text-align: end; font-variant-numeric: tabular-nums; }
td.heat { text-align: center; font-weight: 600; }
td.self { background: #f3f4f6; color: var(--muted); text-align: center; }
.note { color: var(--muted); font-size: 12px; margin-top: 2px; }
blockquote { margin: 6px 0; padding: 8px 12px; background: #fff; border-inline-start: 4px solid var(--brand); }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4 landscape; margin: 9mm; }
@media print {
  body { background: #fff; line-height: 1.45; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 20px; }
  h2 { font-size: 15px; margin: 14px 0 6px; break-after: avoid; }
  table { font-size: 9px; }
  th, td { padding: 2px 3px; }
  thead { display: table-header-group; }
  tr, .card, .panel, blockquote { break-inside: avoid; }
  .card b { font-size: 16px; }
  .explain, .note { font-size: 8.5px; }
  .panel { border: none; padding: 0; }
  .chart svg { max-height: 120mm; }
  section { break-inside: auto; }
}
"""


def escape_html(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """`rows` are cells of ready HTML (`<td …>…</td>`); `head` plain text."""
    if not rows:
        return f"<p class='explain'>{escape_html(empty)}</p>"
    header = "".join(f"<th>{escape_html(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


class PageBase:
    """Helpers shared by the sections: numbers, one-line explanations, names, cards, tables."""

    def __init__(self, report: Report, lang: str, calendar: str) -> None:
        self.report, self.lang, self.calendar = report, lang, calendar
        self.label = LABELS[lang]
        self.names = report.names
        self.titles = {p.platform: p.title for p in report.platforms}
        self.sep = "، " if lang == "fa" else ", "

    def n(self, value: float | None) -> str:
        return escape_html(number(value, self.lang))

    def num(self, value: float | None) -> str:
        return f"<td class='n'>{self.n(value)}</td>"

    def explain(self, *keys: str) -> str:
        return "".join(f"<p class='explain'>{escape_html(self.label[key])}</p>" for key in keys)

    def name(self, agency: str) -> str:
        return self.names.get(agency, agency)

    def cards(self, pairs: Sequence[tuple[str, str]]) -> str:
        return (
            "<div class='cards'>"
            + "".join(
                f"<div class='card'><b>{escape_html(v)}</b><span>{escape_html(k)}</span></div>"
                for v, k in pairs
            )
            + "</div>"
        )

    def section(self, ident: str, title: str, body: str) -> str:
        return f"<section id='{ident}'><h2>{escape_html(title)}</h2>{body}</section>"

    def trends(self) -> str:
        lb, cycle = self.label, self.report.cycle
        head = [
            "",
            lb["items"],
            lb["own_posts"],
            lb["amplifications"],
            lb["isolated_items"],
            lb["failed_items"],
        ]

        def table(title: str, periods: Sequence[Any]) -> str:
            rows = [
                [
                    f"<td>{escape_html(digits(p.period, self.lang))}</td>",
                    *(
                        self.num(v)
                        for v in (p.items, p.own_posts, p.amplifications, p.isolated_items, p.failed_items)
                    ),
                ]
                for p in periods
            ]
            return html_table([title, *head[1:]], rows, lb["nothing"])

        return self.section(
            "trends",
            lb["trends"],
            self.explain("explain_trends")
            + table(lb["month"], cycle.months)
            + table(lb["week"], cycle.weeks),
        )

    def campaigns(self) -> str:
        lb, lang = self.label, self.lang
        rows = [
            [
                f"<td><b>{escape_html(c.period)}</b></td>",
                self.num(c.items),
                self.num(c.own_posts),
                self.num(c.amplifications),
                self.num(c.potential_reach),
                f"<td class='n'>{escape_html(percent(c.isolation, lang))}</td>",
                self.num(c.failed_items),
                f"<td class='n'>{escape_html(duration(c.first_amplification_seconds, lang))}</td>",
                f"<td>{escape_html(c.note or lb['none'])}</td>",
            ]
            for c in self.report.cycle.campaigns
        ]
        head = [
            lb["campaign"],
            lb["items"],
            lb["own_posts"],
            lb["amplifications"],
            lb["potential_reach"],
            lb["isolation"],
            lb["failed_items"],
            lb["first_amp"],
            lb["note"],
        ]
        return self.section(
            "campaigns",
            lb["campaigns"],
            self.explain("explain_campaigns") + html_table(head, rows, lb["nothing"]),
        )

    def rankings(self) -> str:
        lb, lang = self.label, self.lang
        shown: dict[str, Callable[[float], str]] = {
            "most_amplified": lambda v: number(int(v), lang),
            "most_amplifying": lambda v: number(int(v), lang),
            "least_isolated": lambda v: percent(v, lang),
        }
        body = self.explain("explain_rankings")
        for key, show in shown.items():
            rows = [
                [
                    f"<td class='n'>{self.n(rank)}</td>",
                    f"<td>{escape_html(r.name)}</td>",
                    f"<td class='n'>{escape_html(show(r.value))}</td>",
                ]
                for rank, r in enumerate(self.report.cycle.rankings.get(key, []), start=1)
            ]
            body += f"<h3>{escape_html(lb[key])}</h3>" + html_table(
                ["#", lb["agency"], lb[key]], rows, lb["nothing"]
            )
        return self.section("rankings", lb["rankings"], body)

    def outcomes(self) -> str:
        lb = self.label
        notes = (
            "".join(
                f"<blockquote><b>{escape_html(note['campaign'])}</b>: {escape_html(note['text'])}</blockquote>"
                for note in self.report.cycle.outcomes
            )
            or f"<p class='explain'>{escape_html(lb['no_notes'])}</p>"
        )
        return self.section("outcomes", lb["outcomes"], self.explain("explain_outcomes") + notes)
