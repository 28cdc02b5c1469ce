"""Provides kstep's one error base, its subclasses, and the process exit codes.

Errors are raised deep inside and printed once, at the edge (the CLI), as one line on stderr: `FILE: problem`.
"""

from __future__ import annotations

import re
from enum import IntEnum

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ExitCode(IntEnum):
    """The process exit codes, the same for every command."""

    OK = 0
    """The command did what was asked; for `report`, every compared layer agrees within tolerance."""
    DIVERGE = 1
    """`report`: the two models diverge (at or before any unsupported layer)."""
    BAD_INPUT = 2
    """A file could not be read as what it claims to be, or the command line is wrong."""
    UNSUPPORTED = 3
    """`dump`/`report` stopped at a layer kind kstep cannot execute; everything upstream was still computed."""
    INTERNAL = 4
    """kstep's own failure (a bug, MemoryError, RecursionError, ...), never a verdict on the models: one line naming
    what failed; the traceback only with `--debug` or `KSTEP_DEBUG=1`."""
    INTERRUPTED = 130
    """ctrl+c (128 + SIGINT), in every command and in the app."""


class KstepError(Exception):
    """Base of every error kstep reports to the user: a message, an optional hint, and an exit code."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, hint: str | None = None, *, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def line(self) -> str:
        """The one line printed on stderr: `PATH: message (hint)`, with control characters made visible."""
        text = self.message if self.path is None else f"{self.path}: {self.message}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return printable(text)


class BadInput(KstepError):
    """A file, argument or reference input that kstep refuses (exit 2)."""


class UsageError(KstepError):
    """The command line itself is wrong (exit 2)."""


class InternalError(KstepError):
    """An exception that is not a KstepError, reported as kstep's own failure (exit 4): `kstep: internal error
    (TYPE: message, at module:line) in COMMAND` and, unless the traceback was printed, how to get it."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, error: BaseException, command: str, debug: bool = False):
        first = next((text.strip()[:160] for text in str(error).splitlines() if text.strip()), "")
        what = f"{type(error).__name__}: {first}" if first else type(error).__name__
        where = _innermost_kstep_frame(error)
        if where:
            what += f", at {where}"
        super().__init__(f"internal error ({what}) in {command}",
                         None if debug else "rerun with --debug for the traceback", path="kstep")
        self.error = error

    def line(self) -> str:
        """`kstep: internal error (...) in COMMAND; rerun with --debug for the traceback`."""
        text = f"{self.path}: {self.message}" + (f"; {self.hint}" if self.hint else "")
        return printable(text)


def _innermost_kstep_frame(error: BaseException) -> str:
    """`kstep.module:line` of the innermost traceback frame inside the kstep package ('' when none)."""
    tb, found = error.__traceback__, ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and (module == "kstep" or module.startswith("kstep.")):
            found = f"{module}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


class UnsupportedLayer(KstepError):
    """A layer kind the engine cannot execute; upstream results remain valid (exit 3)."""

    exit_code = ExitCode.UNSUPPORTED

    def __init__(self, layer: str, kind: str, reason: str = ""):
        msg = f"layer '{layer}' of kind {kind} is unsupported"
        if reason:
            msg += f": {reason}"
        super().__init__(msg)
        self.layer = layer
        self.kind = kind
        self.reason = reason or "kstep has no implementation of this kind"


def printable(text: str) -> str:
    """`text` with every control character (ESC, BEL, CR, ...) replaced by a visible escape like `\\x1b`.

    Names from model files pass through here before reaching a terminal, so they can never act as escape sequences.
    """
    if not _CONTROL.search(text):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
