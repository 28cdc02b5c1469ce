"""Provides the one way kstep writes a file: never over an input file, atomically (temp file + rename), and with an
unwritable path reported as one line. Used by `dump` (.npz) and by every report writer (CLI and app)."""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Callable

from kstep.errors import BadInput, UsageError


def refuse_inputs(output: str, inputs: list[str | None]) -> None:
    """Refuse an output path that is (or links to) one of the input files."""
    if os.path.exists(output):
        for path in inputs:
            if path and os.path.exists(path) and os.path.samefile(output, path):
                raise UsageError(f"-o {output} is one of the input files; refusing to overwrite it")


def write_atomic(path: str, suffix: str, write: Callable[[BinaryIO], None], what: str = "output") -> None:
    """`write(fh)` into a temp file beside `path`, then rename it over `path`; OSError -> one-line BadInput."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kstep-", suffix=suffix, dir=directory)
    except OSError as exc:
        raise BadInput(f"cannot write the {what} here: {exc.strerror}", path=path) from None
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it 0600; a report gets the mode any new file would
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BadInput(f"cannot write the {what}: {exc.strerror}", path=path) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
