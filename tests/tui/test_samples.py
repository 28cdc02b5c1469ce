"""Pilot tests of the sample in view on the fixed 12-sample analysis (tests/tui/sample_analysis.many): the Samples
view (S, enter selects), { } over all N samples, the Activations tab's on-demand fetch (a placeholder with progress
while it runs, the UI not waiting for it), and t re-running with progress."""

from __future__ import annotations

import io
import re
import threading

import numpy as np
from rich.console import Console

from kstep.tui.screens.samples import SamplesScreen
from kstep.tui.widgets.detail_pane import DetailPane
from kstep.tui.widgets.layer_table import LayerTable
from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, fetched, main_screen, pilot_test, screen_without_colour, settle, until
from tests.tui.test_launch import _hues

WORST_FIRST = ["7", "2", "11", "6", "1", "10", "0", "4", "8", "3", "9", "5"]


def head(pilot) -> str:
    """The Activations tab's text, as plain text."""
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(main_screen(pilot).query_one(DetailPane).activations().content)
    return console.export_text()


@pilot_test
async def test_samples_view_lists_worst_first_and_enter_selects():
    """S lists the 12 verdicts by final max|Δ|, worst first, the cursor on the sample in view (0, the first
    divergence's); enter on the worst (7) puts it in view: the Activations tab shows sample 7's arrays."""
    async with build(sample.many()).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("S")
        screen = pilot.app.screen
        assert isinstance(screen, SamplesScreen)
        table = screen.query_one("#samples-table")
        assert [table.coordinate_to_cell_key((k, 0)).row_key.value for k in range(12)] == WORST_FIRST
        assert table.cursor_row == WORST_FIRST.index("0")
        cells = [c.plain for c in table.get_row("2")]
        assert cells[1:] == ["2", "✗", "1.9e+00", "4→6 flip", "changed", "conv1"]
        assert [c.plain for c in table.get_row("5")][2:6] == ["=", "2.0e-07", "0→0", "same"]
        assert table.get_row("9")[-1].plain == "—" and table.get_row("11")[-1].plain.startswith("evil")
        await pilot.press("g", "enter")
        assert not isinstance(pilot.app.screen, SamplesScreen)
        main = main_screen(pilot)
        assert main.sample == 7 and main.query_one(DetailPane).active == "activations"
        await fetched(pilot)
        view = main.query_one(DetailPane).activations()
        want = sample.activations(1, False, 7)
        assert np.array_equal(view._pair[0], want[0]) and np.array_equal(view._pair[1], want[1])
        assert "sample 7 8/12" in head(pilot)
        assert "[sample 7]" in str(main.query_one("#mode-flags").render())
        await pilot.press("S", "escape")  # esc goes back without changing the sample
        assert main_screen(pilot).sample == 7 and not isinstance(pilot.app.screen, SamplesScreen)


@pilot_test
async def test_curly_brackets_walk_every_sample():
    """{ } move the sample in view over all 12 samples (wrapping), each shown with its own arrays."""
    async with build(sample.many()).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("right_curly_bracket")  # the first press shows the Activations tab
        await fetched(pilot)
        assert main_screen(pilot).sample_in_view() == 0 and "sample 0 1/12" in head(pilot)
        await pilot.press("right_curly_bracket")
        await fetched(pilot)
        assert main_screen(pilot).sample == 1 and "sample 1 2/12" in head(pilot)
        await pilot.press("left_curly_bracket", "left_curly_bracket")
        await fetched(pilot)
        assert main_screen(pilot).sample == 11 and "sample 11 12/12" in head(pilot)
        view = main_screen(pilot).query_one(DetailPane).activations()
        assert np.array_equal(view._pair[0], sample.activations(1, False, 11)[0])


@pilot_test
async def test_a_slow_sample_shows_progress_and_never_blocks():
    """An accessor that has to compute the sample (here: blocked until released) leaves the UI running: the tab says
    which sample it computes and how many layer calls are done; j still moves; the values appear once it returns."""
    release, calls = threading.Event(), []

    def slow(row, isolated, sample_index=None, progress=None):
        calls.append(sample_index)
        if sample_index is not None and sample_index >= 4:
            progress(3, 10)
            assert release.wait(10)
        return sample.activations(row, isolated, sample_index)

    async with build(sample.many(), activations=slow).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("right_curly_bracket")
        await fetched(pilot)
        main_screen(pilot).view_sample(5)
        await until(pilot, lambda: "computing sample 5…: layer calls 3/10 of both models" in head(pilot))
        assert "computing sample 5…: layer calls 3/10 of both models" in head(pilot)
        await pilot.press("j")
        assert main_screen(pilot).query_one(LayerTable).cursor_row == 2  # the UI answers while the worker runs
        release.set()
        await fetched(pilot)
        assert "sample 5 6/12" in head(pilot) and calls[-1] == 5


@pilot_test
async def test_samples_view_without_verdicts():
    """A single-sample analysis has no per-sample verdicts: the Samples view says so (and esc closes it)."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("S")
        assert "no per-sample verdicts" in str(pilot.app.screen.query_one("#samples-empty").render())
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, SamplesScreen)


@pilot_test
async def test_samples_view_no_color(monkeypatch):
    """With NO_COLOR the Samples view has no hue left and = / ✗ / flip / changed still tell the verdicts apart."""
    svg = await screen_without_colour(monkeypatch, sample.many(), "S")
    assert not _hues(svg)
    assert "✗" in svg and "flip" in svg and "changed" in svg


class GatedCompare(sample.FakeCompare):
    """A re-run that stops after its third snapshot until `go` is set (so the test sees its progress)."""

    def __init__(self, analysis):
        super().__init__(analysis)
        self.go = threading.Event()

    def retolerance(self, atol, rtol):
        for k, update in enumerate(super().retolerance(atol, rtol)):
            if k == 3:
                assert self.go.wait(10)
            yield update


@pilot_test
async def test_t_reruns_with_progress_then_shows_the_new_verdicts():
    """t with a new tolerance runs the analysis again in the worker: the verdict line shows 're-judging' and the
    rows done; once finished the re-judged analysis (every row agreeing but the weight mismatch) is shown."""
    fake = GatedCompare(sample.many())
    async with build(sample.many(), fake=fake).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        pilot.app.screen.query_one("#atol").value = "0.9"
        pilot.app.screen.query_one("#rtol").focus()
        await pilot.press("enter")
        screen = main_screen(pilot)
        await until(pilot, lambda: screen.progress is not None)
        state = str(screen.query_one("#run-state").render())
        assert screen.running and re.search(r"re-judging: compare [0-3]/11", state), state
        fake.go.set()
        await settle(pilot, lambda s: not s.running)
        assert fake.retolerance_calls == [(0.9, 0.0001)]
        assert screen.analysis.tolerance.atol == 0.9 and screen.analysis.rows[1].status == "agree"
        assert screen.analysis.first_divergence.row == 5 and screen.rejudging is None


@pilot_test
async def test_moving_on_abandons_the_sample_being_computed():
    """While sample 5 is computed (an accessor reporting progress until it is stopped), } asks for sample 6: the
    run for 5 stops at its next progress call (the worker is cancelled) and sample 6 is shown; 5 never is."""
    stopped = []

    def endless(row, isolated, sample_index=None, progress=None):
        if sample_index == 5:
            for k in range(1000):
                try:
                    progress(k, 1000)
                except Exception as exc:  # the view's cancellation, raised through the accessor's progress
                    stopped.append(type(exc).__name__)
                    raise
                threading.Event().wait(0.01)
            raise AssertionError("never stopped")
        return sample.activations(row, isolated, sample_index)

    async with build(sample.many(), activations=endless).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("right_curly_bracket")
        await fetched(pilot)
        main_screen(pilot).view_sample(5)
        await until(pilot, lambda: "computing sample 5" in head(pilot))
        await pilot.press("right_curly_bracket")
        await fetched(pilot)
        assert stopped == ["FetchCancelled"] and "sample 6 7/12" in head(pilot)
        view = main_screen(pilot).query_one(DetailPane).activations()
        assert np.array_equal(view._pair[0], sample.activations(1, False, 6)[0])
