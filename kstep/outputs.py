"""Provides the one way kstep writes a file: never over an input file, atomically (temp file + rename), and with an
unwritable path reported as one line. Used by `dump` (.npz) and by every report writer (CLI and app).

kstep writes regular files only: an output path that exists and is a device, FIFO, socket or directory is refused
(exit 2) before anything is written, so the rename never replaces e.g. /dev/null. A symlink is judged by what it
points to (the same rule applied to its target); when that is a regular file or nothing, the link itself is
replaced by the new file, as before."""

from __future__ import annotations

import os
import stat
import tempfile
from typing import BinaryIO, Callable

from kstep.errors import BadInput, UsageError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
"""What an existing output path that is not a regular file is called in the refusal."""


def refuse_special(output: str) -> None:
    """Refuse an output path that exists and is not a regular file (followed through symlinks): UsageError naming
    what it is. Reads the path's status only; touches nothing."""
    try:
        mode = os.stat(output).st_mode  # follows symlinks: a link to /dev/null is judged as /dev/null
    except (OSError, ValueError):  # nothing there (or unreadable): the write itself reports any problem
        return
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    link = "a symlink to " if os.path.islink(output) else ""
    raise UsageError(f"-o {output}: cannot write to {link}{kind}; kstep writes regular files only")


def refuse_inputs(output: str, inputs: list[str | None]) -> None:
    """Refuse an output path that is not a regular file (refuse_special) or is (or links to) one of the inputs."""
    refuse_special(output)
    if os.path.exists(output):
        for path in inputs:
            if path and os.path.exists(path) and os.path.samefile(output, path):
                raise UsageError(f"-o {output} is one of the input files; refusing to overwrite it")


def write_atomic(path: str, suffix: str, write: Callable[[BinaryIO], None], what: str = "output") -> None:
    """`write(fh)` into a temp file beside `path`, then rename it over `path`; OSError -> one-line BadInput.
    `path` must be a regular file or nothing (refuse_special, checked again just before the rename)."""
    refuse_special(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kstep-", suffix=suffix, dir=directory)
    except OSError as exc:
        raise BadInput(f"cannot write the {what} here: {exc.strerror}", path=path) from None
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it 0600; a report gets the mode any new file would
            os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        refuse_special(path)  # again: the path may have become a device or FIFO while the output was written
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BadInput(f"cannot write the {what}: {exc.strerror}", path=path) from None
        raise


def new_file_mode() -> int:
    """The mode any new file gets here (0o666 under the process's umask); mkstemp's files are 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
