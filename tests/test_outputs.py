"""kstep writes regular files only (kstep.outputs): -o onto an existing device, FIFO, socket or directory is refused
in one line (exit 2) before anything is computed or written, so the atomic rename never replaces e.g. /dev/null. A
symlink is judged by its target."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from kstep.cli import main
from kstep.errors import ExitCode, UsageError
from kstep.outputs import refuse_special, write_atomic
from tests.conftest import ROOT

DEMO = ROOT / "demo_models"
OLD, NEW, REF, REF_NEW = (str(DEMO / n) for n in ("old.h5", "new.h5", "ref.npy", "ref_new.npy"))


def _special(tmp_path, kind: str):
    """An existing non-regular file of `kind` in tmp_path (the socket stays bound until the test ends)."""
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cwd = os.getcwd()
        os.chdir(tmp_path)  # a relative name: AF_UNIX paths are limited to ~100 bytes
        try:
            sock.bind(kind)
        finally:
            os.chdir(cwd)
        return path, sock
    else:
        path.mkdir()
    return path, None


def _argv(command: str, out: str) -> list[str]:
    if command == "dump":
        return ["dump", OLD, REF, "-o", out]
    return ["report", OLD, NEW, REF, "--ref-new", REF_NEW, "--no-noise", "-o", out]


@pytest.mark.parametrize("command", ["report", "dump"])
@pytest.mark.parametrize("kind, word", [("fifo", "a FIFO"), ("socket", "a socket"), ("directory", "a directory")])
def test_output_onto_a_special_file_is_refused(command, kind, word, tmp_path, capsys):
    """-o FIFO / socket / directory: exit 2, one line naming the path and what it is; the file is still there and
    still what it was, and no temp file is left beside it."""
    path, sock = _special(tmp_path, kind)
    before = os.lstat(path)
    try:
        assert main(_argv(command, str(path))) == ExitCode.BAD_INPUT
    finally:
        if sock is not None:
            sock.close()
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [f"-o {path}: cannot write to {word}; kstep writes regular files only"]
    after = os.lstat(path)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode))
    assert sorted(p.name for p in tmp_path.iterdir()) == [kind]


def test_dev_null_is_refused_by_the_check_itself():
    """/dev/null (a character device): the refusal is a pure status check, tested on the real path directly."""
    before = os.stat(os.devnull)
    with pytest.raises(UsageError, match="cannot write to a character device; kstep writes regular files only"):
        refuse_special(os.devnull)
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_symlink_is_judged_by_its_target(tmp_path, capsys):
    """A symlink to /dev/null is refused like /dev/null (the link stays); a dangling one or one to a regular file is
    an ordinary output path (the link itself is replaced by the new regular file, as before)."""
    to_null = tmp_path / "null-link.md"
    to_null.symlink_to(os.devnull)
    assert main(_argv("report", str(to_null))) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.splitlines() == [
        f"-o {to_null}: cannot write to a symlink to a character device; kstep writes regular files only"]
    assert os.readlink(to_null) == os.devnull and stat.S_ISCHR(os.stat(os.devnull).st_mode)
    for target in ("missing.md", "existing.md"):
        if target == "existing.md":
            (tmp_path / target).write_text("old")
        link = tmp_path / f"link-to-{target}"
        link.symlink_to(tmp_path / target)
        refuse_special(str(link))  # no refusal
    assert main(_argv("report", str(tmp_path / "link-to-existing.md"))) == ExitCode.DIVERGE
    assert (tmp_path / "link-to-existing.md").read_text().startswith("#")


def test_a_path_that_turns_special_while_writing_is_not_replaced(tmp_path):
    """Checked again just before the rename: a FIFO made at the path while the output was being written stays, the
    temp file is removed."""
    out = tmp_path / "r.md"

    def write(fh):
        fh.write(b"report")
        os.mkfifo(out)

    with pytest.raises(UsageError, match="cannot write to a FIFO"):
        write_atomic(str(out), ".md", write)
    assert stat.S_ISFIFO(os.lstat(out).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]


def test_a_regular_file_is_still_replaced(tmp_path):
    """The ordinary case is unchanged: an existing regular file is replaced atomically."""
    out = tmp_path / "r.npz"
    out.write_bytes(b"old")
    write_atomic(str(out), ".npz", lambda fh: fh.write(b"new"))
    assert out.read_bytes() == b"new"
