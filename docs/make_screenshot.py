#!/usr/bin/env python3
"""Make the README's pictures of kstep on the shipped demo pair: docs/screenshot.svg (the app at 80x24, drawn
headless by Textual) and docs/report-excerpt.md (the top of the Markdown report).

Usage (from the repo root, kstep installed): python docs/make_screenshot.py
"""

import asyncio
from pathlib import Path

from kstep.cli import build_app_parser, compare_options, report_command
from kstep.compare.analyze import Comparison
from kstep.report import FORMATS
from kstep.tui.app import make_app
from kstep.tui.launch import _updates

ROOT = Path(__file__).resolve().parent.parent
ARGV = ["demo_models/old.h5", "demo_models/new.h5", "demo_models/ref.npy", "--ref-new", "demo_models/ref_new.npy"]


async def shoot(comparison: Comparison, out: Path) -> None:
    app = make_app(lambda: _updates(comparison), activations=comparison.arrays)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(500):
            await pilot.pause(0.02)
            if comparison.done:
                break
        await pilot.pause(0.3)
        out.write_text(app.export_screenshot(title="kstep demo_models/old.h5 demo_models/new.h5 ..."))


def main() -> None:
    import os

    os.chdir(ROOT)
    args = build_app_parser().parse_args(ARGV)
    comparison = Comparison(args.old, args.new, args.ref, args.ref_new, compare_options(args), report_command(ARGV))
    try:
        asyncio.run(shoot(comparison, ROOT / "docs" / "screenshot.svg"))
        report = FORMATS["md"].render(comparison.analysis())
    finally:
        comparison.close()
    head = report.split("## Final outputs")[0].rstrip() + "\n"
    (ROOT / "docs" / "report-excerpt.md").write_text(head)
    print("wrote docs/screenshot.svg and docs/report-excerpt.md")


if __name__ == "__main__":
    main()
