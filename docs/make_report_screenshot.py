#!/usr/bin/env python3
"""Make the README's picture of the HTML report on the shipped demo pair: docs/report-chart.png, the report's
"Error along depth" section (the chart and the first divergence's heatmaps) as headless Chromium draws it.

The report is written by `kstep report` (the same command as the README's) to a temporary file; the section is cut
out of it into a page of its own with the report's style, so Chromium's window is the crop (no image library
needed). Needs Debian's `chromium` (or chromium-browser / google-chrome) on PATH.

Usage (from the repo root, kstep installed): python docs/make_report_screenshot.py
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kstep.cli import main as kstep_main
from kstep.report.to_html import STYLE

ROOT = Path(__file__).resolve().parent.parent
ARGV = ["report", "demo_models/old.h5", "demo_models/new.h5", "demo_models/ref.npy", "--ref-new",
        "demo_models/ref_new.npy"]
OUT = ROOT / "docs" / "report-chart.png"
WINDOW = (800, 650)  # CSS pixels: the chart is 760 wide, the heatmaps under it


def section(page: str) -> str:
    """The report's 'Error along depth' section (heading, chart, heatmaps) as a page of its own."""
    start = page.index("<h2>Error along depth</h2>")
    end = page.index("<h2>", start + 4)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{STYLE}\nbody{{margin:8px 12px}}'
            f"h2{{margin:0 0 4px}}figure{{margin:0 0 6px}}</style></head><body>{page[start:end]}</body></html>")


def browser() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    return found


def main() -> None:
    import os

    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        kstep_main(ARGV + ["-o", str(report)])  # exit code 1: the demo pair diverges
        page = Path(tmp) / "section.html"
        page.write_text(section(report.read_text(encoding="utf-8")), encoding="utf-8")
        subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                        f"--screenshot={OUT}", page.as_uri()], capture_output=True, timeout=120, check=True)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
