"""Exit 4 is kstep's own failure and nothing else: an exception that is not a KstepError (a bug, MemoryError,
RecursionError), in any command and in the app, is one line naming what failed, never exit 0-3, the traceback only
with --debug or KSTEP_DEBUG=1. A closed stdout (`| head -1`) ends the output quietly with the verdict's code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kstep.cli import debug_requested, main
from kstep.errors import ExitCode, InternalError
from tests.conftest import ROOT

DEMO = ROOT / "demo_models"
OLD, NEW, REF, REF_NEW = (str(DEMO / n) for n in ("old.h5", "new.h5", "ref.npy", "ref_new.npy"))
COMPARE = [OLD, NEW, REF, "--ref-new", REF_NEW, "--no-noise"]


def _boom(error: BaseException):
    def fail(*args, **kwargs):
        raise error
    return fail


def _inject(monkeypatch, command: str, error: BaseException) -> list[str]:
    """Make one function on `command`'s path raise `error`; the argv that runs the command."""
    from kstep import describe
    from kstep.compare.analyze import Comparison
    from kstep.engine.executor import Executor

    if command == "inspect":
        monkeypatch.setattr(describe, "describe", _boom(error))
        return ["inspect", OLD]
    if command == "dump":
        monkeypatch.setattr(Executor, "step", _boom(error))
        return ["dump", OLD, REF, "-o", "never-written.npz"]
    monkeypatch.setattr(Comparison, "run", _boom(error))
    return ["report", *COMPARE] if command == "report" else COMPARE  # the app: stdout is not a terminal here


@pytest.mark.parametrize("command, error, name", [
    ("inspect", ZeroDivisionError("division by zero"), "inspect"),
    ("dump", MemoryError(), "dump"),
    ("report", RecursionError("maximum recursion depth exceeded"), "report"),
    ("app", KeyError("conv1"), "the debugger"),
])
def test_an_internal_failure_is_exit_4_and_one_line(command, error, name, monkeypatch, capsys, tmp_path):
    """Each command (and the app's non-terminal path) turns an injected failure into exit 4 and one stderr line
    naming the exception and the command; nothing written on stdout, no -o file left behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KSTEP_DEBUG", raising=False)
    argv = _inject(monkeypatch, command, error)
    assert main(argv) == ExitCode.INTERNAL == 4
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"kstep: internal error ({type(error).__name__}")
    assert lines[0].endswith(f") in {name}; rerun with --debug for the traceback")
    assert str(error) in lines[0] and not os.listdir(tmp_path)


@pytest.mark.parametrize("how", ["flag-first", "flag-last", "env"])
def test_debug_prints_the_traceback_first(how, monkeypatch, capsys):
    """--debug (anywhere before `--`, the app and every command) or KSTEP_DEBUG=1: the traceback, then the line
    (without the rerun hint); the exit code is still 4."""
    monkeypatch.delenv("KSTEP_DEBUG", raising=False)
    argv = _inject(monkeypatch, "report", ZeroDivisionError("float division by zero"))
    if how == "env":
        monkeypatch.setenv("KSTEP_DEBUG", "1")
    argv = ["--debug", *argv] if how == "flag-first" else argv + ["--debug"] if how == "flag-last" else argv
    assert main(argv) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ZeroDivisionError: float division" in err
    assert err.strip().splitlines()[-1].startswith("kstep: internal error (ZeroDivisionError: float division by zero")
    assert "rerun with --debug" not in err


def test_debug_flag_parsing(monkeypatch):
    """--debug is removed wherever it stands before `--` (so a report never records it); KSTEP_DEBUG '' or '0' is
    off."""
    monkeypatch.delenv("KSTEP_DEBUG", raising=False)
    assert debug_requested(["a", "--debug", "b"]) == (True, ["a", "b"])
    assert debug_requested(["a", "--", "--debug"]) == (False, ["a", "--", "--debug"])
    monkeypatch.setenv("KSTEP_DEBUG", "0")
    assert debug_requested(["a"]) == (False, ["a"])
    monkeypatch.setenv("KSTEP_DEBUG", "yes")
    assert debug_requested(["a"]) == (True, ["a"])


def test_help_lists_debug(capsys):
    """Every command's --help (and the app's) lists --debug."""
    for argv in (["--help"], ["inspect", "--help"], ["dump", "--help"], ["report", "--help"], ["a", "b", "c", "-h"]):
        assert main(argv) == 0
        assert "--debug" in capsys.readouterr().out, argv


def test_internal_error_line_names_the_innermost_kstep_frame():
    """The line points at the innermost frame inside kstep, where a bug report starts."""
    from kstep.options import tol_text

    try:
        tol_text("x")  # type: ignore[arg-type]
    except ValueError as exc:
        line = InternalError(exc, "report").line()
    assert line.startswith("kstep: internal error (ValueError: ") and ", at kstep.options:" in line
    assert InternalError(MemoryError(), "dump", debug=True).line() == "kstep: internal error (MemoryError) in dump"


def test_an_hdf5_failure_is_still_bad_input(monkeypatch, capsys):
    """Kept: an exception raised inside h5py itself is a corrupt file (exit 2, the file named), not exit 4."""
    import h5py

    from kstep import describe

    def corrupt(*args, **kwargs):
        raise OSError("Can't read data (wrong B-tree signature)")

    corrupt.__code__ = corrupt.__code__.replace(co_filename=h5py.__file__)  # the raising frame is h5py's
    monkeypatch.setattr(describe, "describe", corrupt)
    assert main(["inspect", OLD]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HDF5 structure is corrupt (OSError: Can't read data" in err[0]


def _run_into_closed_pipe(argv: list[str]) -> tuple[int, str]:
    """Run `python -m kstep argv` with stdout a pipe whose reader has already left (as `| head -1` has once it
    read its line): every write kstep makes fails with EPIPE. (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "kstep", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before kstep (numpy, h5py, the comparison) writes anything
    err = proc.stderr.read().decode()
    return proc.wait(timeout=120), err


@pytest.mark.parametrize("argv, code", [
    (["report", *COMPARE, "--format", "json"], ExitCode.DIVERGE),
    (["report", *COMPARE, "--atol", "1e9"], ExitCode.OK),
    ([*COMPARE, "--atol", "1e9"], ExitCode.OK),  # the app without a terminal: the Markdown report
    (["inspect", NEW, "--json"], ExitCode.OK),
    (["--help"], ExitCode.OK),
])
def test_a_closed_stdout_exits_quietly_with_the_verdict(argv, code):
    """`kstep report ... | head -1`: no BrokenPipeError traceback, no 'Exception ignored' at exit, and the exit code
    of the verdict (1 diverge / 0 agree), not of the broken pipe; the same for inspect, the app and --help."""
    status, err = _run_into_closed_pipe(argv)
    assert status == code and err == "", err


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_failure_inside_the_app_is_exit_4(debug, monkeypatch, capsys):
    """The app in a terminal (run headless here): a failure in its worker ends it with the one line and exit 4,
    not Textual's traceback and exit 1 ("diverge"); with --debug, Textual's traceback is kept as well."""
    from kstep.cli import build_app_parser
    from kstep.compare.analyze import Comparison
    from kstep.tui import launch

    monkeypatch.setattr(Comparison, "run", _boom(ZeroDivisionError("division by zero")))
    real_build = launch.build

    def headless_build(args, argv):
        app, session = real_build(args, argv)
        run = app.run
        app.run = lambda: run(headless=True, size=(80, 24))  # type: ignore[method-assign]
        return app, session

    monkeypatch.setattr(launch, "build", headless_build)
    args = build_app_parser().parse_args(COMPARE)
    args.debug = debug
    assert launch.launch(args, COMPARE) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("kstep: internal error (ZeroDivisionError: division by zero, at kstep.") and \
        last.endswith(" in the debugger" if debug else " in the debugger; rerun with --debug for the traceback")
    assert ("Traceback" in err or "ZeroDivisionError: division by zero\n" in err) if debug else \
        err.strip().splitlines() == [last]
