#!/usr/bin/env python3
"""Make the README's pictures of kstep on the shipped demo pair: docs/screenshot.svg (the app at 80x24, drawn
headless by Textual) and docs/report-excerpt.md (the top of the Markdown report).

Usage (from the repo root, kstep installed): python docs/make_screenshot.py
"""

import asyncio
from pathlib import Path

from kstep.cli import build_app_parser
from kstep.report import FORMATS
from kstep.tui import launch

ROOT = Path(__file__).resolve().parent.parent
ARGV = ["demo_models/old.h5", "demo_models/new.h5", "demo_models/ref.npy", "--ref-new", "demo_models/ref_new.npy"]


async def shoot(app, session, out: Path) -> None:
    """Run the app as `kstep OLD NEW REF` builds it until the analysis is complete, then save the screen."""
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(1000):
            await pilot.pause(0.02)
            if session.comparison is not None and session.comparison.done:
                break
        await pilot.pause(0.3)
        out.write_text(app.export_screenshot(title="kstep demo_models/old.h5 demo_models/new.h5 ..."))


def main() -> None:
    import os

    os.chdir(ROOT)
    args = build_app_parser().parse_args(ARGV)
    app, session = launch.build(args, ARGV)
    try:
        asyncio.run(shoot(app, session, ROOT / "docs" / "screenshot.svg"))
        report = FORMATS["md"].render(session.comparison.analysis())
    finally:
        session.close()
    head = report.split("## Final outputs")[0].rstrip() + "\n"
    (ROOT / "docs" / "report-excerpt.md").write_text(head)
    print("wrote docs/screenshot.svg and docs/report-excerpt.md")


if __name__ == "__main__":
    main()
