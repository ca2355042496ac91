"""`--format pdf`: the HTML report printed by headless Chromium (its print styles: A4 landscape).

The page has no script and no network address, and Chromium runs with a fresh profile and with its
background networking off, so printing reaches nothing outside the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.reach.report.days import ReportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


def find_chromium() -> str | None:
    """`HAMAFZA_CHROMIUM`, else the first Chromium on the PATH."""
    configured = os.environ.get("HAMAFZA_CHROMIUM")
    if configured:
        return configured
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def html_to_pdf(page: str, timeout: float = 120.0) -> bytes:
    browser = find_chromium()
    if browser is None:
        raise ReportError("--format pdf needs Chromium (apt-get install chromium, or set HAMAFZA_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="hamafza-pdf-") as work:
        source, target = Path(work) / "report.html", Path(work) / "report.pdf"
        source.write_text(page, encoding="utf-8")
        completed = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={Path(work) / 'profile'}",
                f"--print-to-pdf={target}",
                source.as_uri(),
            ],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if not target.exists() or target.stat().st_size == 0:
            tail = completed.stderr.decode(errors="replace")[-500:]
            raise ReportError(f"Chromium printed no PDF (exit {completed.returncode}): {tail}")
        return target.read_bytes()
