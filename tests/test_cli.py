"""The command line surface: help, version, usage errors, exit codes, one stderr line per failure."""

import json

import pytest

from kstep import __version__
from kstep.cli import main
from kstep.errors import ExitCode, UsageError
from kstep.options import parse_assume
from tests.conftest import ROOT


def test_version(capsys):
    """--version prints the package version on stdout and exits 0."""
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["inspect", "--help"], ["dump", "--help"]])
def test_help(argv, capsys):
    """Every command has its own --help, exit 0."""
    assert main(argv) == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_no_arguments_is_usage_error(capsys):
    """No arguments prints help on stderr and exits 2."""
    assert main([]) == ExitCode.BAD_INPUT


@pytest.mark.parametrize("argv", [["inspect"], ["dump", "a.h5"], ["frobnicate", "x"], ["inspect", "--bogus", "x"]])
def test_usage_errors_are_one_line(argv, capsys):
    """Wrong usage: one line on stderr, exit 2, no traceback."""
    assert main(argv) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_missing_file(tmp_path, capsys):
    """A path that does not exist: one line naming it, exit 2."""
    missing = tmp_path / "nope.h5"
    assert main(["inspect", str(missing)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{missing}: no such file"]


def test_parse_assume_single_and_prefixed():
    """--assume KEY=VALUE for one model, old./new. prefixes for two."""
    assert parse_assume(["backend=theano"]) == {"backend": "theano"}
    assert parse_assume(["old.backend=theano", "new.layer.c.data_format=channels_last"], ("old", "new")) == {
        "old": {"backend": "theano"}, "new": {"layer.c.data_format": "channels_last"}}
    with pytest.raises(UsageError):
        parse_assume(["backend"])
    with pytest.raises(UsageError):
        parse_assume(["backend=theano"], ("old", "new"))


def test_unknown_assume_key(tmp_path, capsys):
    """An unknown --assume key is refused with the list of known keys."""
    from tests.conftest import LEGACY, need_shared

    model = need_shared(LEGACY / "cases" / "k1" / "conv2d_th.h5")
    assert main(["inspect", str(model), "--assume", "colour=blue"]) == ExitCode.BAD_INPUT
    assert "unknown key" in capsys.readouterr().err


def test_inspect_json_is_versioned(capsys):
    """inspect --json prints one document with the schema tag."""
    from tests.conftest import LEGACY, need_shared

    model = need_shared(LEGACY / "cases" / "k1" / "conv2d_th.h5")
    assert main(["inspect", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "kstep.inspect/1"
    assert doc["detected"] == {"generation": "keras1", "keras_version": "1.2.2", "backend": "theano",
                               "evidence": doc["detected"]["evidence"]}


def test_written_files_get_the_usual_mode(tmp_path, capsys):
    """A report written atomically (through a 0600 temp file) ends with the mode any new file gets (umask)."""
    import os
    import stat

    demo = ROOT / "demo_models"
    out = tmp_path / "r.md"
    old_mask = os.umask(0o022)
    try:
        code = main(["report", str(demo / "old.h5"), str(demo / "new.h5"), str(demo / "ref.npy"), "--ref-new",
                     str(demo / "ref_new.npy"), "-o", str(out), "--no-noise"])
    finally:
        os.umask(old_mask)
    assert code == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
