"""The comparison's options (kstep.options): parsed once at the edge into a frozen value, the defaults written once,
the command a report records."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from kstep.cli import build_app_parser
from kstep.errors import UsageError
from kstep.options import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_RTOL,
    MIN_ATOL,
    NOISE_FACTOR,
    CompareOptions,
    report_command,
    tol_text,
)
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


@pytest.mark.parametrize("extra, samples", [
    ([], None), (["--samples", "2:5"], (2, 5)), (["--samples", ":8"], (None, 8)), (["--samples", "3:"], (3, None)),
    (["--samples=-8:"], (-8, None)), (["--samples=-5:-2"], (-5, -2)), (["--samples", "7"], (7, 8)),
    (["--samples", "0"], (0, 1)), (["--samples=-1"], (-1, None)), (["--samples=-3"], (-3, -2)),
    (["--samples", ":"], (None, None)), (["--samples", " 2 : 4 "], (2, 4)),
])
def test_samples_is_a_python_slice(extra, samples):
    """--samples A:B / A: / :B is the slice (A, B); one index K is K:K+1 (the last one, -1, is -1:)."""
    assert _options(*extra).samples == samples


def test_one_index_selects_that_sample():
    """--samples=K selects exactly sample K of 10, for every K from -10 to 9."""
    for k in range(-10, 10):
        assert list(range(10))[slice(*_options(f"--samples={k}").samples)] == [list(range(10))[k]]


@pytest.mark.parametrize("value", ["a", "1:2:3", "", "1.5", "1:x", "::", "2-4", "1,3"])
def test_malformed_samples_is_a_usage_error(value):
    """Anything but A:B, A:, :B or one integer (a step, a float, a dash range) is a UsageError naming the flag."""
    with pytest.raises(UsageError) as info:
        _options(f"--samples={value}")
    assert info.value.line().startswith("--samples") and "A:B" in info.value.line()


@pytest.mark.parametrize("value, size", [
    ("2GiB", 2 * 2**30), ("512MiB", 512 * 2**20), ("1.5G", 3 * 2**29), ("800M", 800 * 2**20),
    ("100000000", 100_000_000), ("2gib", 2 * 2**30), ("800MB", 800 * 10**6), ("1GB", 10**9), ("64k", 65536),
    ("64KB", 64000), ("3 KiB", 3072), (".5g", 2**29), ("1e9", 10**9), ("7", 7),
])
def test_max_memory_sizes(value, size):
    """Binary K/M/G and KiB/MiB/GiB, decimal KB/MB/GB, any case; a bare number is bytes."""
    assert _options("--max-memory", value).max_memory == size


def test_max_memory_default():
    """No --max-memory: 2 GiB, the same default as a CompareOptions made in code."""
    assert _options().max_memory == DEFAULT_MAX_MEMORY == 2 * 2**30 == CompareOptions().max_memory


@pytest.mark.parametrize("value", ["0", "0GiB", "-1G", "-5", "inf", "nan", "NaN", "1.5X", "G", "", "1e999",
                                   "0.1", "2 GiB extra", "1e20"])
def test_bad_max_memory_is_a_usage_error(value):
    """Zero, negative, non-finite, absurd or malformed sizes: a UsageError naming the flag (exit 2)."""
    with pytest.raises(UsageError) as info:
        _options(f"--max-memory={value}")
    assert info.value.line().startswith("--max-memory")


def test_samples_and_max_memory_bad_values_exit_2(capsys):
    """From the command line: one line naming the flag, exit 2, before any file is opened."""
    from kstep.cli import main

    demo = ROOT / "demo_models"
    argv = [str(demo / "old.h5"), str(demo / "new.h5"), str(demo / "ref.npy"), "--no-noise"]
    for extra, flag in ((["--samples", "x"], "--samples"), (["--max-memory", "0"], "--max-memory")):
        assert main(["report", *argv, *extra]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1 and err.startswith(flag)


@pytest.mark.parametrize(("value", "size"), [("224x224", (224, 224)), ("480X640", (480, 640)), (" 8 x 12 ", (8, 12)),
                                             ("1x65535", (1, 65535))])
def test_resize_is_height_by_width(value, size):
    """--resize HxW: (H, W) in pixels, any case of the x, spaces around the numbers allowed; None without it."""
    assert _options("--resize", value).resize == size
    assert _options().resize is None


@pytest.mark.parametrize("value", ["224", "224x", "x224", "0x224", "224x0", "-1x5", "2.5x3", "65536x1", "axb",
                                   "3x4x5"])
def test_malformed_resize_is_a_usage_error(value):
    """--resize must be two whole numbers 1..65535 joined by an x."""
    with pytest.raises(UsageError, match="--resize"):
        _options("--resize", value)


def test_more_refs_are_the_batch_after_the_first():
    """REF followed by more paths: the first stays `ref` (every command reads it), the rest are more_refs, in order;
    options after them still parse."""
    args = build_app_parser().parse_args(["a.h5", "b.h5", "1.png", "2.png", "3.png", "--resize", "4x4"])
    options = CompareOptions.from_args(args)
    assert args.ref == "1.png" and options.more_refs == ("2.png", "3.png") and options.resize == (4, 4)
    assert _options().more_refs == ()
