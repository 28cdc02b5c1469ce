"""The app's preflight (kstep.preflight): what it checks before the app opens agrees with the full open and the
comparison, it reads no weight, and the forked run behind it (kstep.tui.launch.Forked) carries results and errors
back to the parent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from kstep.cli import build_app_parser
from kstep.compare.analyze import Comparison
from kstep.compare.pending import file_info, static_items
from kstep.errors import KstepError
from kstep.io.load import open_model
from kstep.options import CompareOptions
from kstep.preflight import check_model
from kstep.tui.launch import first_screen
from tests.conftest import FIXTURES, ROOT
from tests.hostile import make_hostile as mk

DEMO = ROOT / "demo_models"
DEMO_ARGV = [str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new", str(DEMO / "ref_new.npy")]
MODELS = sorted([*DEMO.glob("*.h5"), *FIXTURES.glob("**/*.h5"), *FIXTURES.glob("**/*.keras")])


def _line(fn) -> str | None:
    """fn()'s KstepError line, or None when it succeeds."""
    try:
        fn()
    except KstepError as exc:
        return exc.line()
    return None


@pytest.mark.parametrize("path", MODELS, ids=[str(p.relative_to(ROOT)) for p in MODELS])
def test_same_graph_as_the_full_open(path):
    """Every model file of the repo: the same layer calls in the same order, the same detection and header facts
    (the full open may add facts it learns from the weights), or the same refusal."""
    try:
        full = open_model(str(path))
    except KstepError as exc:
        assert _line(lambda: check_model(str(path))) == exc.line()
        return
    with full:
        pre = check_model(str(path))
        assert static_items(pre.model) == static_items(full.model)
        assert pre.semantics == full.semantics
        assert all(not spec.weights for spec in pre.model.layers)
        ours, theirs = file_info(pre, str(path)), file_info(full, str(path))
        assert all(fact in theirs.assumptions for fact in ours.assumptions)
        ours.assumptions = theirs.assumptions
        assert ours == theirs


def test_pending_rows_are_the_comparisons_rows():
    """The first screen lists exactly the rows the comparison fills in, all pending."""
    args = build_app_parser().parse_args(DEMO_ARGV)
    pending = first_screen(args, ["kstep", "report", *DEMO_ARGV])
    comparison = Comparison(args.old, args.new, args.ref, args.ref_new, CompareOptions.from_args(args), [])
    try:
        for _ in comparison.run():
            pass
        done = comparison.analysis()
    finally:
        comparison.close()
    assert [(r.index, r.old.key, r.new.key, r.old.kind) for r in pending.rows] == \
        [(r.index, r.old.key, r.new.key, r.old.kind) for r in done.rows]
    assert {r.status for r in pending.rows} == {"pending"} and not pending.complete
    assert pending.first_divergence is None and pending.old.path == args.old


def test_no_weight_is_read(monkeypatch):
    """The preflight reads configs and headers only."""
    from kstep.io import h5safe

    def refuse(*a, **k):
        raise AssertionError("the preflight read a weight")

    monkeypatch.setattr(h5safe, "read_dataset", refuse)
    assert len(first_screen(build_app_parser().parse_args(DEMO_ARGV), ["kstep"]).rows) == 8


def _cases():
    return [("model", name) for name in mk.BAD_MODELS] + [("ref", name) for name in mk.BAD_REFS]


@pytest.mark.parametrize("kind,case", _cases(), ids=[f"{k}-{c}" for k, c in _cases()])
@pytest.mark.parametrize("full_check_layers", [64, 0], ids=["small", "as-if-big"])
def test_refused_as_the_comparison_refuses(kind, case, full_check_layers, tmp_path, monkeypatch):
    """Every hostile file (all small models): the preflight refuses it before the app, with the comparison's own
    line. Were it a big model (no full open before the app), what the preflight lets through (a weight the config
    contradicts, a link or external storage behind a weight) the comparison refuses when the app's worker builds
    it, and the app then exits 2 with that line (tests/tui/test_launch.py)."""
    from kstep import preflight

    monkeypatch.setattr(preflight, "FULL_CHECK_LAYERS", full_check_layers)
    if kind == "model":
        c = mk.BAD_MODELS[case](tmp_path)
        ref = mk.valid_input(tmp_path)
    else:
        c = mk.BAD_REFS[case](tmp_path)
        c.model, ref = mk.valid_model(tmp_path), c.ref
    argv = [str(c.model), str(c.model), str(ref)]
    if c.weights:
        argv += ["--weights-old", str(c.weights), "--weights-new", str(c.weights)]
    args = build_app_parser().parse_args(argv)
    pre = _line(lambda: first_screen(args, ["kstep"]))
    full = _line(lambda: Comparison(args.old, args.new, args.ref, args.ref_new, CompareOptions.from_args(args),
                                    []).close())
    assert full is not None
    assert pre == full if full_check_layers else pre in (None, full)


FORKED = """
import sys
from kstep.errors import BadInput, KstepError
from kstep.tui.launch import Forked
assert "numpy" not in sys.modules

def ok(x):
    import numpy  # the child may import what it likes
    return {"x": x, "numpy": "numpy" in sys.modules}

def refuse():
    raise BadInput("no such file", path="nope.h5")

calls = []
def crash():
    calls.append(1)
    raise ValueError("boom")

job = Forked(ok, 3)
assert job.pid is not None
print(job.result(), "numpy" in sys.modules)
try:
    Forked(refuse).result()
except KstepError as exc:
    print("refused", exc.line(), int(exc.exit_code))
try:
    Forked(crash).result()
except ValueError:
    print("crash re-run here", len(calls))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_forked_carries_values_and_errors():
    """In a fresh interpreter (no numpy yet): the value comes back, a KstepError comes back as its line and exit
    code, anything else is run again in the parent (so the CLI reports it its usual way)."""
    out = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["{'x': 3, 'numpy': True} False", "refused nope.h5: no such file 2",
                                       "crash re-run here 1"]


def test_the_app_refuses_before_the_screen(tmp_path):
    """`kstep OLD NEW REF` on a terminal with a bad file: one line, exit 2, and the screen was never switched."""
    if shutil.which("script") is None:
        pytest.skip("util-linux `script` is not installed")
    missing = tmp_path / "nope.h5"
    log = tmp_path / "typescript"
    cmd = f"{sys.executable} -m kstep {missing} {DEMO / 'new.h5'} {DEMO / 'ref.npy'}"
    out = subprocess.run(["script", "-qec", cmd, str(log)], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    raw = log.read_bytes()
    assert f"{missing}: no such file".encode() in raw
    assert b"\x1b[?1049h" not in raw  # the alternate screen (the app) never opened
