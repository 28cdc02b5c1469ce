"""Snapshot tests (pytest-textual-snapshot): the main screen, each detail tab, help, the export and fix dialogs, the
Samples view, a running analysis and one stopped by an unsupported layer, each at 80x24 and 120x40, built by the
real factory."""

from __future__ import annotations

import pytest

from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, still

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


def keys(*presses):
    """run_before: wait for the analysis, press `presses`, wait again (cursor blink off)."""
    async def run_before(pilot):
        await still(pilot)
        if presses:
            await pilot.press(*presses)
            await still(pilot)
    return run_before


@SIZES
class TestMainScreen:
    def test_first_divergence(self, snap_compare, size):
        """The sample: files with assumptions, FIRST DIVERGENCE conv1 selected, every status glyph, Summary tab."""
        assert snap_compare(build(), terminal_size=size, run_before=keys())

    def test_agree(self, snap_compare, size):
        """Three agreeing layers: 'models agree within tolerance'."""
        assert snap_compare(build(sample.agree()), terminal_size=size, run_before=keys())

    def test_unsupported(self, snap_compare, size):
        """Agree up to an unsupported Lambda: the verdict names it, later rows stay pending (…)."""
        assert snap_compare(build(sample.unsupported()), terminal_size=size, run_before=keys())

    def test_running_paused(self, snap_compare, size):
        """Stepping from the first layer: progress bar, 'paused', first suspect conv1 once s reached it."""
        app = build(source=sample.stepping_source(), paused=True)
        assert snap_compare(app, terminal_size=size, run_before=keys("s"))

    def test_isolated_detail_open(self, snap_compare, size):
        """i and enter: isolated errors in the table, the detail pane enlarged."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("i", "enter"))


@SIZES
class TestDetailTabs:
    def test_config(self, snap_compare, size):
        """Config: differing parameters first, marked ≠; the assumed facts with their --assume keys."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("tab"))

    def test_weights(self, snap_compare, size):
        """Weights: per array shapes, 'equal up to a spatial flip', identical."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("tab", "tab"))

    def test_activations(self, snap_compare, size):
        """Activations: worst channel and position, sparkline, heatmap with the sliced row, values slice."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("tab", "tab", "tab"))

    def test_activations_dense(self, snap_compare, size):
        """Activations of a Dense layer (2-D): the slice runs along the features, no heatmap."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("f", *["j"] * 7, "tab", "tab", "tab"))

    def test_diagnosis(self, snap_compare, size):
        """Diagnosis: each hypothesis with before → after, the verified one first marked ✓ with its action."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("shift+tab"))


@SIZES
class TestDialogs:
    def test_help(self, snap_compare, size):
        """? lists every key and the glyph legend."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("question_mark"))

    def test_export(self, snap_compare, size):
        """e: the path and the format (md / json / html)."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("e"))

    def test_fix(self, snap_compare, size):
        """x on a verified in-file fix: the cause and its edit, what kstep fix does after it, FIXED's default path."""
        assert snap_compare(build(sample.fixable()), terminal_size=size, run_before=keys("x"))

    def test_tolerance(self, snap_compare, size):
        """t: atol and rtol prefilled with the current tolerance."""
        assert snap_compare(build(), terminal_size=size, run_before=keys("t"))


@SIZES
class TestSamplesView:
    def test_samples(self, snap_compare, size):
        """S on 12 samples: worst final max|Δ| first (7, 2, 11, …), = / ✗, top-1 old→new with flips, top-5 changed,
        the first divergent layer; ▸ and the cursor on the sample in view (0, the first divergence's)."""
        assert snap_compare(build(sample.many()), terminal_size=size, run_before=keys("S"))

    def test_worst_sample_in_view(self, snap_compare, size):
        """S, g, enter: the worst sample (7) in view: the Activations tab shows it (8/12), the verdict line flags it."""
        assert snap_compare(build(sample.many()), terminal_size=size, run_before=keys("S", "g", "enter"))
