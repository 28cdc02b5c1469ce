"""Provides `launch`: `kstep OLD NEW REF` in a terminal, the wiring between the CLI, the comparison and the app.

The files are opened and validated before the app starts (a bad file is one line and exit 2, like `kstep
report`); the comparison itself runs in the app's worker thread, so the screen is drawn at once and rows fill in.
"""

from __future__ import annotations

from kstep.compare.analyze import Comparison
from kstep.report import FORMATS, write_report
from kstep.tui.app import make_app


def launch(args, argv: list[str]) -> int:
    from kstep.cli import compare_options, report_command

    inputs = [args.old, args.new, args.ref, args.ref_new, args.weights_old, args.weights_new]
    comparison = Comparison(args.old, args.new, args.ref, args.ref_new, compare_options(args),
                            report_command(argv))
    try:
        app = make_app(lambda: _updates(comparison),
                       retolerance=lambda analysis, atol, rtol: comparison.retolerance(atol, rtol),
                       export=lambda analysis, fmt, path: write_report(analysis, path, FORMATS[fmt], inputs),
                       export_formats=tuple(FORMATS),
                       activations=comparison.arrays)
        app.run()
        return app.return_code if app.return_code is not None else 0
    finally:
        comparison.close()


def _updates(comparison: Comparison):
    """Snapshots with progress while the comparison runs, then the finished analysis."""
    if comparison.done:
        yield comparison.analysis()
        return
    for phase, done, total in comparison.run():
        yield comparison.analysis(), (phase, done, total)
    yield comparison.analysis()
