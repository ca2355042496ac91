"""The HTML report and its PDF as headless Chromium renders them: right to left, every column of every
table inside an A4 page, no chart label clipped, a PDF of A4 landscape pages; one screenshot per
section kept in the `artifacts` directory ($HAMAFZA_ARTIFACTS, else a temporary one).

The report is computed from a province-sized set of rows (fourteen agencies with long Persian names,
every registered platform, two months, campaigns, approvals and a note), so the widest tables the
council will see are the ones measured.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from services.reach.report import Rows, compute, platform_titles
from services.reach.report.html import SECTIONS, render_html
from services.reach.report.model import ApprovalRow, FailureRow, ItemRow, Note, PostRow, Snapshot
from services.reach.report.pdf import FLAGS, find_chromium, html_to_pdf

pytestmark = pytest.mark.slow

AGENCIES = {
    f"agency-{index:02d}": name
    for index, name in enumerate(
        (
            "اداره کل راه و شهرسازی استان خوزستان",
            "اداره کل راه‌آهن جنوب غرب",
            "اداره کل بنادر و دریانوردی خوزستان",
            "شرکت آب و فاضلاب استان خوزستان",
            "اداره کل میراث فرهنگی، گردشگری و صنایع دستی",
            "دانشگاه علوم پزشکی جندی‌شاپور اهواز",
            "اداره کل آموزش و پرورش استان",
            "شرکت توزیع نیروی برق اهواز",
            "اداره کل حفاظت محیط زیست",
            "سازمان جهاد کشاورزی استان",
            "اداره کل ورزش و جوانان",
            "شرکت گاز استان خوزستان",
            "اداره کل هواشناسی استان",
            "جمعیت هلال احمر استان",
        )
    )
}
START = datetime(2025, 3, 25, 6, 0, tzinfo=UTC)


def province_rows() -> Rows:
    platforms = sorted(platform_titles("fa"))
    slugs = sorted(AGENCIES)
    items: list[ItemRow] = []
    snapshots: dict[str, Snapshot] = {}
    approvals: list[ApprovalRow] = []
    for number in range(120):
        origin = slugs[number % len(slugs)]
        received = START + timedelta(hours=13 * number)
        posts: list[PostRow] = []
        failures: tuple[FailureRow, ...] = ()
        if number % 17 == 5:  # an item posted nowhere
            failures = (FailureRow(f"i{number}/{origin}/fail", origin),)
        else:
            for platform in platforms[number % 3 :: 3]:
                own = PostRow(f"i{number}/{origin}/{platform}", origin, origin, platform, "publish", received)
                posts.append(own)
                snapshots[own.delivery_id] = Snapshot(
                    audience=12_000 + 937 * number, impressions=4_000 + 211 * number, likes=90 + number
                )
                for step, partner in enumerate(slugs[(number + 1) % len(slugs) :][: number % 4]):
                    posts.append(
                        PostRow(
                            f"i{number}/{partner}/{platform}",
                            partner,
                            origin,
                            platform,
                            "repost",
                            received + timedelta(minutes=7 + 41 * step),
                        )
                    )
        items.append(
            ItemRow(
                f"i{number}", origin, f"campaign-{number % 4}", "خبر " * 40, received, tuple(posts), failures
            )
        )
        if number % 5 == 0:
            partner = slugs[(number + 2) % len(slugs)]
            state = ("approved", "declined", "expired", "awaiting_approval")[number % 4]
            approvals.append(ApprovalRow(f"i{number}.{partner}", f"i{number}", partner, origin, state))
    notes = {"campaign-1": Note("campaign-1", "پویش هفته حمل‌ونقل: بازنشر همکاران دو برابر پارسال شد.", START)}
    return Rows(items=tuple(items), snapshots=snapshots, approvals=tuple(approvals), notes=notes)


# Run in the page: where every table, column, cell and chart label lies against the page's width.
CHECK = """
<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const out = {direction: getComputedStyle(document.body).direction, width, tables: 0, columns: 0,
               labels: 0, problems: [], sections: [...document.querySelectorAll('section')].map(s => s.id)};
  document.querySelectorAll('table').forEach((table, t) => {
    out.tables++;
    const box = table.getBoundingClientRect();
    if (box.left < -0.5 || box.right > width + 0.5) out.problems.push(`table ${t}: ${box.left}..${box.right} of ${width}`);
    table.querySelectorAll('thead th').forEach((th, c) => {
      out.columns++;
      const r = th.getBoundingClientRect();
      if (r.width < 8 || r.left < -0.5 || r.right > width + 0.5) out.problems.push(`table ${t} column ${c} «${th.textContent}»: ${r.left}..${r.right}`);
    });
    table.querySelectorAll('th, td').forEach(cell => {
      if (cell.scrollWidth > cell.clientWidth + 1) out.problems.push(`table ${t} cell overflows: «${cell.textContent.slice(0, 40)}»`);
    });
  });
  document.querySelectorAll('svg').forEach((svg, s) => {
    const box = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(text => {
      if (!text.textContent.trim()) return;
      out.labels++;
      const r = text.getBoundingClientRect();
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.problems.push(`chart ${s} label clipped: «${text.textContent}» ${r.left}..${r.right} in ${box.left}..${box.right}`);
    });
  });
  const pre = document.createElement('pre');
  pre.id = 'verdict';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
A4_LANDSCAPE_CSS_PX = 1054  # (297 mm − 2 × 9 mm margins) at 96 px per inch: the printed page's width


def chromium() -> str:
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run: apt-get install chromium)")
    return browser


def run_chromium(browser: str, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="hamafza-browser-") as profile:
        return subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", "--hide-scrollbars", *arguments],
            capture_output=True,
            timeout=180,
            check=False,
        )


def measure(browser: str, page: str, folder: Path, name: str, width: int) -> dict[str, Any]:
    source = folder / f"{name}.html"
    source.write_text(page.replace("</body>", CHECK + "</body>"), encoding="utf-8")
    completed = run_chromium(
        browser, "--dump-dom", "--virtual-time-budget=10000", f"--window-size={width},1400", source.as_uri()
    )
    found = re.search(r'<pre id="verdict">(.*?)</pre>', completed.stdout.decode(errors="replace"), re.S)
    assert found, completed.stderr.decode(errors="replace")[-2000:]
    verdict: dict[str, Any] = json.loads(
        found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    return verdict


@pytest.fixture(scope="module")
def page() -> str:
    names = {slug: name for slug, name in AGENCIES.items()}
    report = compute(province_rows(), agency_names=names, platform_titles=platform_titles("fa"), top=10)
    return render_html(report, "fa", "jalali")


def test_printed_on_a4_every_column_of_every_table_is_on_the_page_and_no_label_is_clipped(
    page: str, artifacts: Path
) -> None:
    browser = chromium()
    # The print styles laid out at the printed page's width (what --print-to-pdf lays out).
    printed = page.replace("@media print {", "@media all {")
    verdict = measure(browser, printed, artifacts, "report-a4", A4_LANDSCAPE_CSS_PX)
    assert verdict["direction"] == "rtl"
    assert verdict["sections"] == list(SECTIONS)
    tree = LexborHTMLParser(page)
    assert verdict["tables"] == len(tree.css("table")) >= 12
    assert verdict["columns"] == len(tree.css("thead th"))  # every column measured
    assert verdict["labels"] >= 30
    assert verdict["problems"] == []
    # On a screen, too.
    screen = measure(browser, page, artifacts, "report-screen", 1280)
    assert screen["direction"] == "rtl" and screen["problems"] == []


def test_one_screenshot_per_section(page: str, artifacts: Path) -> None:
    browser = chromium()
    for section in SECTIONS:
        alone = page.replace("</head>", f"<style>section:not(#{section}) {{ display: none; }}</style></head>")
        source = artifacts / f"section-{section}.html"
        source.write_text(alone, encoding="utf-8")
        shot = artifacts / f"section-{section}.png"
        shot.unlink(missing_ok=True)
        completed = run_chromium(browser, f"--screenshot={shot}", "--window-size=1280,1800", source.as_uri())
        assert shot.exists(), completed.stderr.decode(errors="replace")[-2000:]
        assert shot.stat().st_size > 20_000, section  # drawn, not blank


def test_the_pdf_is_a4_landscape_and_renders(page: str, artifacts: Path) -> None:
    chromium()
    pdf = html_to_pdf(page)
    assert pdf.startswith(b"%PDF-")
    target = artifacts / "report.pdf"
    target.write_bytes(pdf)
    # Page boxes: A4 landscape is 842 × 595 points (Chromium writes them uncompressed).
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes, "no page in the PDF"
    assert {(round(float(w)), round(float(h))) for w, h in boxes} == {(842, 595)}
    assert len(boxes) >= 3  # ten sections do not fit one page
    renderer = shutil.which("pdftoppm")
    if renderer is None:
        pytest.skip(
            "pdftoppm is not installed (.ci/run installs poppler-utils); the PDF's pages were not drawn"
        )
    subprocess.run(
        [renderer, "-png", "-r", "60", str(target), str(artifacts / "report-pdf")], check=True, timeout=120
    )
    pages = sorted(artifacts.glob("report-pdf-*.png"))
    assert len(pages) == len(boxes)
    assert all(png.stat().st_size > 10_000 for png in pages)  # every page has something drawn on it
