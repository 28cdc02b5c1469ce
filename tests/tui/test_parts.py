"""Unit tests of the TUI's plain parts: the stepping gate and driver, the text renderers, the key table."""

from __future__ import annotations

import threading

import pytest
from rich.text import Text

from kstep.tui import render
from kstep.tui.keys import KEYS
from kstep.tui.runner import CONTINUE, PAUSE, RUN, STEP, Gate, drive
from kstep.tui.widgets.key_bar import key_line
from kstep.tui.widgets.layer_table import columns
from tests.tui import sample_analysis as sample


def run_drive(source, gate, **kw):
    posts = []
    t = threading.Thread(target=drive, args=(source, gate, lambda *a: posts.append(a)), kwargs=kw, daemon=True)
    t.start()
    return t, posts


def test_drive_free_run_posts_last_as_final():
    """Running freely, throttled updates are skipped but the last one is always posted with final=True."""
    gate = Gate()
    clock = iter(range(100)).__next__
    t, posts = run_drive(sample.stepping_source(), gate, min_interval=1000, clock=lambda: float(clock()))
    t.join(5)
    assert posts[0][0].rows[0].status == "agree"
    assert posts[-1][3] is True and posts[-1][0].complete
    assert len(posts) == 2


def test_gate_step_and_continue():
    """Paused: STEP stops after one more computed row, CONTINUE after one more breaking row; cancel ends it."""
    gate = Gate(paused=True)
    t, posts = run_drive(sample.stepping_source(), gate)
    for _ in range(100):
        if posts:
            break
        t.join(0.01)
    assert gate.mode == PAUSE and len(posts) == 1
    gate.request(STEP)
    t.join(0.3)
    assert gate.mode == PAUSE and posts[-1][0].rows[1].status == "diverge"
    gate.request(CONTINUE)
    t.join(0.3)
    assert gate.mode == PAUSE and posts[-1][0].rows[5].status == "mismatch"
    gate.cancel()
    t.join(2)
    assert not t.is_alive()


def test_drive_closes_the_source_on_cancel():
    """A cancelled run closes the source's generator (its finally runs: files get closed)."""
    closed = []

    def source():
        try:
            yield from sample.stepping_source()()
        finally:
            closed.append(True)

    gate = Gate(paused=True)
    t, _ = run_drive(source, gate)
    t.join(0.2)
    gate.cancel()
    t.join(2)
    assert closed == [True] and gate.mode in (PAUSE, RUN)


@pytest.mark.parametrize("x,text", [(None, "—"), (0.0, "0"), (float("nan"), "nan"), (float("inf"), "inf"),
                                    (6.6e-1, "6.6e-01"), (-2e-9, "-2.0e-09")])
def test_num(x, text):
    """Differences print in at most 7 characters, NaN/inf/absent spelled out."""
    assert render.num(x) == text


def test_shape_drops_batch_axis():
    assert render.shape((2, 8, 8, 4)) == "8×8×4"
    assert render.shape((2, 8, 8, 4), batch=True) == "2×8×8×4"
    assert render.shape(None) == "—"


@pytest.mark.parametrize("name", [sample.MARKUP_NAME, sample.ESCAPE_NAME])
def test_plain_is_literal(name):
    """Names become Text with control characters escaped; markup is not parsed."""
    t = render.plain(name)
    assert isinstance(t, Text) and not t.spans
    assert "\x1b" not in t.plain and "\x07" not in t.plain
    assert t.plain.startswith(name[:4])


def test_verdicts():
    """The verdict line for a divergence, agreement, an unsupported stop and a running analysis."""
    assert render.verdict(sample.sample()).plain.startswith("FIRST DIVERGENCE conv1 (theano_kernel_flip)")
    assert "agree within tolerance" in render.verdict(sample.agree()).plain
    assert render.verdict(sample.unsupported()).plain.startswith("STOPPED AT lambda_1 (Lambda)")
    assert render.verdict(sample.partial(3)).plain == "first suspect conv1 (diverge)"
    assert render.verdict(sample.partial(1)).plain == "no divergence so far"


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_columns_fit(width):
    """The table's columns (with padding and scrollbar) never exceed the width; OLD/NEW split from 110."""
    cols = columns(width, False, 11)
    assert sum(w + 2 for _, _, w in cols) + 1 <= width
    assert ("oname" in [c[0] for c in cols]) == (width >= 110)


@pytest.mark.parametrize("width", [80, 120])
def test_footer_fits_and_keeps_help(width):
    """The footer fits the width and always ends with ? help and q quit."""
    line = key_line(width).plain
    assert len(line) < width and line.endswith("? help q quit")


def test_every_action_has_a_key_and_help():
    """Each bound key has help text; every documented action is bound."""
    actions = {k.action.split("(")[0] for k in KEYS}
    assert {"move", "toggle_detail", "next_divergence", "first_divergence", "cycle_tab", "toggle_isolated",
            "tolerance", "search", "export", "step", "continue", "restart", "help", "quit"} <= actions
    assert all(k.help for k in KEYS)


@pytest.mark.parametrize("module", ["kstep.tui", "kstep.tui.runner", "kstep.tui.keys"])
def test_tui_plain_parts_do_not_import_textual(module):
    """The stepping gate and the key table stay Textual-free (the CLI may import them before the app)."""
    import subprocess
    import sys

    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
