"""The comparison's options (kstep.options): parsed once at the edge into a frozen value, the defaults written once,
the command a report records."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from kstep.cli import build_app_parser
from kstep.errors import UsageError
from kstep.options import DEFAULT_RTOL, MIN_ATOL, NOISE_FACTOR, CompareOptions, report_command, tol_text
from tests.conftest import ROOT


def _options(*extra: str) -> CompareOptions:
    return CompareOptions.from_args(build_app_parser().parse_args(["a.h5", "b.h5", "x.npy", *extra]))


def test_defaults_and_frozen():
    """No option: the default rule (atol None, rtol DEFAULT_RTOL, noise on); the value cannot be changed in place,
    only replaced (with_tolerance)."""
    options = _options()
    assert options == CompareOptions() and options.rtol == DEFAULT_RTOL and options.atol is None and options.noise
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.atol = 1.0  # type: ignore[misc]
    assert options.with_tolerance(1e-3, 1e-2) == dataclasses.replace(options, atol=1e-3, rtol=1e-2)
    assert options.atol is None


def test_every_option_parsed():
    """Each flag lands in its field; per-side --assume, --map and --tolerance are read-only mappings."""
    options = _options("--atol", "1e-3", "--rtol", "0.5", "--tolerance", "conv1=1,2", "--map", "a=b",
                       "--pre-old", "scale:1/255", "--assume", "old.backend=theano", "--no-noise",
                       "--weights-new", "w.h5")
    assert (options.atol, options.rtol, dict(options.per_layer)) == (1e-3, 0.5, {"conv1": (1.0, 2.0)})
    assert dict(options.forced) == {"a": "b"} and len(options.pre_old) == 1 and options.pre_new == ()
    assert dict(options.assume_old) == {"backend": "theano"} and dict(options.assume_new) == {}
    assert not options.noise and options.weights_new == "w.h5" and options.weights_old is None
    with pytest.raises(TypeError):
        options.forced["c"] = "d"  # type: ignore[index]


@pytest.mark.parametrize("extra", [["--tolerance", "conv1=1"], ["--map", "a"], ["--assume", "backend=theano"],
                                   ["--pre-old", "frobnicate"]])
def test_malformed_option_is_a_usage_error(extra):
    """A malformed option is refused as a UsageError (one line, exit 2)."""
    with pytest.raises(UsageError):
        _options(*extra)


def test_report_command_drops_the_output_flags():
    """The recorded command is `kstep report ...` without -o/--output/--format, from the app or from report."""
    assert report_command(["report", "a", "b", "c", "-o", "r.md", "--format=json", "--atol", "1"]) == \
        ["kstep", "report", "a", "b", "c", "--atol", "1"]
    assert report_command(["a", "b", "c", "--output", "r.md"]) == ["kstep", "report", "a", "b", "c"]


def test_tolerance_text():
    """The defaults as the help texts and labels write them."""
    assert [tol_text(x) for x in (MIN_ATOL, DEFAULT_RTOL, NOISE_FACTOR, 0.5, 2.5e-4)] == \
        ["1e-5", "1e-4", "10", "0.5", "2.5e-4"]


def test_importing_options_imports_no_numpy():
    """kstep.options stays light: the app parses its arguments before anything heavy is imported."""
    code = "import sys, kstep.options; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("extra, flag", [
    (["--atol", "inf"], "--atol"), (["--atol", "nan"], "--atol"), (["--atol=-1e-3"], "--atol"),
    (["--rtol", "inf"], "--rtol"), (["--rtol", "NaN"], "--rtol"), (["--rtol", "-0.5"], "--rtol"),
    (["--tolerance", "conv1=inf,0"], "--tolerance conv1="), (["--tolerance", "conv1=0,nan"], "--tolerance conv1="),
    (["--tolerance", "conv1=-1,0"], "--tolerance conv1="), (["--tolerance", "conv1=1e-3,-inf"], "--tolerance conv1="),
])
def test_a_tolerance_must_be_finite_and_not_negative(extra, flag):
    """inf would make every pair agree, NaN every comparison false, a negative one nothing agree: refused like the
    debugger's tolerance dialog does, a UsageError naming the flag."""
    with pytest.raises(UsageError) as info:
        _options(*extra)
    assert info.value.line().startswith(flag) and "finite" in info.value.line()


def test_zero_tolerance_is_allowed():
    """0 is a tolerance (exact agreement), as in the dialog."""
    options = _options("--atol", "0", "--rtol", "0", "--tolerance", "conv1=0,0")
    assert (options.atol, options.rtol, dict(options.per_layer)) == (0.0, 0.0, {"conv1": (0.0, 0.0)})


@pytest.mark.parametrize("command", ["report", "app"])
def test_atol_inf_is_exit_2_before_anything_runs(command, capsys):
    """`kstep report ... --atol inf` (and the app) is one line naming the flag, exit 2, no report written."""
    from kstep.cli import main

    demo = ROOT / "demo_models"
    argv = [str(demo / "old.h5"), str(demo / "new.h5"), str(demo / "ref.npy"), "--ref-new",
            str(demo / "ref_new.npy"), "--no-noise", "--atol", "inf"]
    assert main(["report", *argv] if command == "report" else argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == ["--atol inf: must be a finite number >= 0"]
