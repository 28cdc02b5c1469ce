"""The sample in view against the real comparison: the demo pair (Keras 1.2.2 / tf.keras, demo_models/) on 10 seeded
samples, wired by kstep.tui.launch as `kstep OLD NEW REF` is. The first chunk keeps samples 0-3; the Activations tab
of a later sample is computed on demand (both models on it alone) and must equal a direct one-sample comparison;
t runs every sample again with progress; running out of memory in that on-demand run ends the app like the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.cli import build_app_parser
from kstep.compare.analyze import Comparison
from kstep.compare.focus import VIEWS_KEPT, FocusRuns
from kstep.tui import launch
from kstep.tui.screens.main import MainScreen
from kstep.tui.widgets.detail_pane import DetailPane
from tests.conftest import ROOT
from tests.tui.helpers import fetched, main_screen, pilot_test, settle

DEMO = ROOT / "demo_models"


@pytest.fixture
def ref10(tmp_path):
    """10 seeded samples shaped like the demo's reference (NCHW 3x16x16, uniform 0..1 as demo_models/ref.npy)."""
    x = np.random.default_rng(13).uniform(size=(10, 3, 16, 16)).astype(np.float32)
    path = tmp_path / "ref10.npy"
    np.save(path, x)
    return path, x


def app_for(ref):
    argv = [str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(ref)]
    return launch.build(build_app_parser().parse_args(argv), argv)


def direct(x: np.ndarray, sample: int, row: int, isolated: bool, tmp_path) -> tuple:
    """Row `row`'s arrays from a comparison of that one sample alone (its own file, nothing shared)."""
    one = tmp_path / f"one{sample}.npy"
    np.save(one, x[sample:sample + 1])
    c = Comparison(str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(one))
    try:
        with np.errstate(all="ignore"):
            for _ in c.run():
                pass
        return c.arrays(row, isolated)
    finally:
        c.close()


def record_progress(monkeypatch, run: str) -> list:
    """(progress, running) of every snapshot the main screen applies from the run `t` (run='rejudging') or `i`
    ('isolating') started: its progress, and whether the screen then shows it running (progress bar)."""
    seen: list = []
    apply = MainScreen.on_analysis_updated

    def record(self, message):
        mine = getattr(self, run) == message.generation
        apply(self, message)
        if mine:
            seen.append((message.progress, self.running))

    monkeypatch.setattr(MainScreen, "on_analysis_updated", record)
    return seen


def shown(pilot) -> tuple:
    return main_screen(pilot).query_one(DetailPane).activations()._pair


@pilot_test
async def test_a_sample_beyond_the_kept_ones_is_computed_on_demand(ref10, tmp_path):
    """} from sample 0 (the only kept one of more than 4: the noise sample) to 1 and a jump to 6: both computed on
    demand, equal to a direct one-sample run (propagated, and isolated after i); the view cache holds at most
    VIEWS_KEPT samples."""
    path, x = ref10
    app, session = app_for(path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda s: s.analysis.complete)
            comparison = session.comparison
            assert comparison.first_samples == 1 and comparison.inputs.count == 10
            assert len(main_screen(pilot).analysis.verdicts) == 10
            await pilot.press("right_curly_bracket")  # shows the Activations tab
            main_screen(pilot).view_sample(0)
            await fetched(pilot)
            assert np.array_equal(shown(pilot)[0], comparison.arrays(0)[0][0:1])  # kept
            assert 1 not in comparison.focus.views
            await pilot.press("right_curly_bracket")
            await fetched(pilot)
            assert main_screen(pilot).sample == 1 and 1 in comparison.focus.views
            want = direct(x, 1, 0, False, tmp_path)
            got = shown(pilot)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
            main_screen(pilot).view_sample(6)
            await pilot.press(*["j"] * 6)  # fc1
            await fetched(pilot)
            want = direct(x, 6, 6, False, tmp_path)
            assert np.array_equal(shown(pilot)[0], want[0]) and np.array_equal(shown(pilot)[1], want[1])
            await pilot.press("i")
            await fetched(pilot)
            want = direct(x, 6, 6, True, tmp_path)
            assert np.array_equal(shown(pilot)[0], want[0]) and np.array_equal(shown(pilot)[1], want[1])
            for k in (7, 8, 9):
                main_screen(pilot).view_sample(k)
                await fetched(pilot)
            assert sorted(comparison.focus.views) == [7, 8, 9] and len(comparison.focus.views) == VIEWS_KEPT
    finally:
        session.close()
    assert session.fatal is None


@pilot_test
async def test_t_runs_every_sample_again_with_progress(ref10, monkeypatch):
    """t with atol 10 (everything within): the comparison runs again (rows, then the samples beyond the first
    chunk) with its progress posted, and the new verdicts say every sample agrees."""
    path, _ = ref10
    seen = record_progress(monkeypatch, "rejudging")
    app, session = app_for(path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda s: s.analysis.complete)
            before = main_screen(pilot).analysis
            assert not all(v.outputs_agree for v in before.verdicts)
            runs = []
            run = session.comparison.run
            monkeypatch.setattr(session.comparison, "run", lambda: runs.append(1) or run())
            await pilot.press("t")
            pilot.app.screen.query_one("#atol").value = "10"
            pilot.app.screen.query_one("#rtol").focus()
            await pilot.press("enter")
            await settle(pilot, lambda s: s.rejudging is None and not s.running)
            after = main_screen(pilot).analysis
            assert runs == [1] and any(p is not None and p.phase == "compare" and on for p, on in seen)
            assert after.tolerance.atol == 10 and len(after.verdicts) == 10
            assert all(v.outputs_agree for v in after.verdicts)
    finally:
        session.close()
    assert session.fatal is None


@pilot_test
async def test_out_of_memory_in_the_on_demand_run_ends_the_app_like_the_cli(ref10, monkeypatch):
    """The one-sample run behind the Activations tab runs out of memory: the app exits 2 with the comparison's
    out-of-memory line (Session._end), as a failure of the comparison's own worker does."""
    path, _ = ref10

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(FocusRuns, "run", no_memory)
    app, session = app_for(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda s: s.analysis.complete)
        await pilot.press("right_curly_bracket")
        main_screen(pilot).view_sample(8)
        for _ in range(300):
            if app.return_code is not None:
                break
            await pilot.pause(0.01)
    session.close()
    assert app.return_code == 2
    assert session.fatal is not None and session.fatal.line().startswith("out of memory comparing the models")


@pilot_test
async def test_i_fills_every_rows_isolated_errors_over_every_sample(ref10, monkeypatch):
    """i once the comparison is done: every compared row's isolated statistics over all 10 samples (the comparison
    re-ran conv1 and conv2 isolated on the first chunk only, where they already failed), computed in the worker
    with its progress; each max|Δ| equals NEW's layer fed OLD's inputs on one unchunked run of all 10 samples;
    the statuses stay the comparison's; after t's re-run (the isolated view still on) they are filled in again; a
    second i (off, on) computes nothing again."""
    from kstep.compare.probe import isolated_outputs
    from kstep.compare.trace import collect

    path, x = ref10
    seen = record_progress(monkeypatch, "isolating")
    app, session = app_for(path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda s: s.analysis.complete)
            before = main_screen(pilot).analysis
            partial = [r.index for r in before.rows if r.isolated is not None and r.isolated.samples < 10]
            assert partial, "the comparison covers some rows' isolated errors on some samples only"
            await pilot.press("i")
            await settle(pilot, lambda s: s.isolating is None and not s.running)
            after = main_screen(pilot).analysis
            progress, running = seen[0]
            assert running and progress.phase == "isolated, samples 0/10, layer" and progress.total == 8
            assert [r.status for r in after.rows] == [r.status for r in before.rows]
            comparison = session.comparison
            old = collect(comparison.old, dict(comparison.inputs.chunk(0, 10).old))
            new = collect(comparison.new, dict(comparison.inputs.chunk(0, 10).new))
            checked = 0
            for row in after.rows:
                if row.propagated is None:
                    continue
                assert row.isolated is not None and row.isolated.samples == 10, row.old.name
                ro, rn = old.by_key[row.old.key], new.by_key[row.new.key]
                want = max(float(np.max(np.abs(b.astype(np.float64) - a)))
                           for a, b in zip(ro.outputs, isolated_outputs(old, new, ro, rn)))
                assert abs(row.isolated.max_abs - want) <= 1e-6 * max(1.0, want), row.old.name
                checked += 1
            assert checked == 8
            await pilot.press("t")  # a re-run while the isolated view is on: its rows are filled in again after it
            pilot.app.screen.query_one("#atol").value = "10"
            pilot.app.screen.query_one("#rtol").focus()
            await pilot.press("enter")
            await settle(pilot, lambda s: s.analysis.tolerance.atol == 10 and s.iso_filled is s.analysis
                         and not s.running)
            assert all(r.isolated.samples == 10 for r in main_screen(pilot).analysis.rows)
            runs = []
            monkeypatch.setattr("kstep.compare.isolated_all.isolated_pass", lambda *a, **k: runs.append(1) or iter(()))
            await pilot.press("i", "i")
            await pilot.pause(0.2)
            assert runs == [] and not main_screen(pilot).running
    finally:
        session.close()
    assert session.fatal is None


def test_views_are_bounded_by_the_memory_budget():
    """The debugger's one-sample views keep at most a quarter of --max-memory (always the newest one)."""
    from kstep.compare import focus as focus_module

    class FakeTrace:
        def __init__(self, nbytes):
            self.results = [type("R", (), {"outputs": [np.zeros(nbytes, np.uint8)]})()]

    runs = focus_module.FocusRuns.__new__(focus_module.FocusRuns)
    runs.views, runs.runs, runs.views_budget = focus_module.OrderedDict(), {}, 1000
    runs._lock = focus_module.threading.Lock()
    runs.cached = lambda sample: (FakeTrace(300), FakeTrace(100))  # 400 bytes a view
    for sample in range(3):
        runs.view(sample)
    assert list(runs.views) == [1, 2]  # 3 views (1200 bytes) exceed 1000: the oldest went
    runs.views_budget = 100
    runs.view(5)
    assert list(runs.views) == [5]  # even over budget, the newest view stays
