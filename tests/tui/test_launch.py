"""The wiring behind `kstep OLD NEW REF` (kstep.tui.launch) and what the first screen costs: the pending table is
drawn first and the comparison fills it in; a file that only the full open refuses ends the app with exit 2 and
its line; nothing heavy is imported before the app opens; NO_COLOR leaves no colour on the screen."""

from __future__ import annotations

import re
import subprocess
import sys

from kstep.analysis import PENDING
from kstep.cli import build_app_parser
from kstep.compare.analyze import Comparison
from kstep.errors import KstepError
from kstep.options import CompareOptions
from kstep.tui import launch
from kstep.tui.widgets.detail_pane import DetailPane
from kstep.tui.widgets.layer_table import LayerTable
from tests.conftest import ROOT
from tests.hostile import make_hostile as mk
from tests.tui.helpers import build, main_screen, pilot_test, settle

DEMO = ROOT / "demo_models"
DEMO_ARGV = [str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new", str(DEMO / "ref_new.npy")]


@pilot_test
async def test_pending_table_first_then_the_analysis():
    """The first screen already lists every layer pair (pending, no detail tabs yet); the worker then opens the
    files and fills the rows in, up to the demo's first divergence."""
    app, session = launch.build(build_app_parser().parse_args(DEMO_ARGV), DEMO_ARGV)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = main_screen(pilot)
            assert screen.analysis is session.pending and screen.gate is None  # drawn before the worker starts
            table = screen.query_one(LayerTable)
            assert table.row_count == 8 and {r.status for r in screen.analysis.rows} == {PENDING}
            await settle(pilot, lambda s: s.analysis.complete)
            assert screen.query_one(DetailPane).tabs() is not None
            assert screen.analysis.first_divergence.new_layer == "conv1"
            assert table.row_count == 8 and table.cursor_row == 0
    finally:
        session.close()
    assert session.fatal is None and app.return_code in (None, 0)


async def _run_until_exit(app, session, seconds: float = 5.0) -> None:
    """Run the app at 80x24 until it sets a return code (or `seconds` pass), then close the session."""
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(int(seconds / 0.01)):
            if app.return_code is not None:
                break
            await pilot.pause(0.01)
    session.close()


@pilot_test
async def test_a_file_only_the_full_open_refuses_ends_the_app_with_exit_2(tmp_path, monkeypatch):
    """A big model's weights are first opened by the worker (here: every model counts as big): a weight whose
    stored shape contradicts the config passes the preflight; the worker's full open refuses it, and the app exits
    2 with the comparison's own line (launch prints it once the terminal is restored)."""
    from kstep import preflight

    monkeypatch.setattr(preflight, "FULL_CHECK_LAYERS", 0)
    c = mk.BAD_MODELS["wrong_kernel_shape"](tmp_path)
    ref = mk.valid_input(tmp_path)
    argv = [str(c.model), str(c.model), str(ref)]
    args = build_app_parser().parse_args(argv)
    try:
        Comparison(args.old, args.new, args.ref, None, CompareOptions.from_args(args), []).close()
    except KstepError as exc:
        expected = exc.line()
    app, session = launch.build(args, argv)
    await _run_until_exit(app, session, seconds=3.0)
    assert app.return_code == 2
    assert session.fatal.line() == expected and c.needle in expected


def test_nothing_heavy_before_the_app_opens():
    """The app's path imports Textual but no numpy, h5py, engine or comparison before the first frame (the
    preflight's imports happen in its forked child, the rest in the worker)."""
    code = ("import sys, kstep.cli, kstep.tui.launch, kstep.tui.app, kstep.report; "
            "print(sorted(m for m in ('numpy', 'h5py', 'kstep.engine.executor', 'kstep.compare.analyze', "
            "'kstep.io.load', 'kstep.preflight') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def _hues(svg: str) -> set[str]:
    """Every colour of the screen's text and cell backgrounds (not the window decoration) that is not a grey."""
    colours = re.findall(r"\.terminal-r\d+ \{ fill: (#[0-9a-f]{6})", svg)
    colours += re.findall(r'<rect fill="(#[0-9a-f]{6})" x=', svg)
    out = set()
    for c in colours:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        if max(r, g, b) - min(r, g, b) > 16:
            out.add(c)
    return out


@pilot_test
async def test_no_color_leaves_only_greys(monkeypatch):
    """With NO_COLOR=1 colour is removed (Textual's NoColor filter, not its Monochrome greys, which leave red on
    black as dark grey on near-black) and no hue is left on the screen (without it the same screen has hues: the
    check can see colour), while the glyphs keep every state readable."""
    for no_color in (False, True):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        else:
            monkeypatch.delenv("NO_COLOR", raising=False)
        app = build()
        assert app.no_color is no_color
        kinds = {type(f).__name__ for f in app._filters}
        assert ("NoColor" in kinds and "Monochrome" not in kinds) if no_color else "NoColor" not in kinds
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("tab", "tab")  # the Weights tab: the most colourful one
            await pilot.pause()
            svg = app.export_screenshot()
        hues = _hues(svg)
        assert (not hues) if no_color else hues, hues
        assert "✗" in svg and "FIRST DIVERGENCE" in svg.replace("&#160;", " ")


@pilot_test
async def test_running_out_of_memory_in_the_worker_ends_the_app_with_exit_2(monkeypatch):
    """A failure while the comparison runs (here the engine runs out of memory) is not a verdict: the app exits 2
    and launch prints the comparison's one line, as `kstep report` does."""
    from kstep.engine.executor import Executor

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Executor, "run_layer", no_memory)
    app, session = launch.build(build_app_parser().parse_args(DEMO_ARGV), DEMO_ARGV)
    await _run_until_exit(app, session)
    assert app.return_code == 2
    assert session.fatal is not None and "out of memory" in session.fatal.line()
