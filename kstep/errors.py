"""Provides kstep's one error base, its subclasses, and the process exit codes.

Errors are raised deep inside and printed once, at the edge (the CLI), as one line on stderr: `FILE: problem`.
"""

from __future__ import annotations

import re
from enum import IntEnum

# Unicode categories Cc (C0, DEL, C1), Cf (bidi overrides and isolates U+202A-202E/U+2066-2069, zero-width and
# direction marks U+200B-200F, BOM U+FEFF, soft hyphen, tag characters, ...), Cs (lone surrogates, as a name decoded
# with surrogateescape or a JSON "\\udcff" holds), Zl and Zp (U+2028/U+2029), as of Unicode 15.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
                      "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
                      "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                      "\U000e0001\U000e0020-\U000e007f]")


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


class OutOfMemory(BadInput):
    """Not even the samples of one chunk fit in the memory there is (exit 2, never a verdict): the line says how much
    was needed."""


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


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every control, invisible-format or unencodable character replaced by a visible escape.

    The one rule for names from model files (layer, model, weight and input names, paths, values) before they reach
    a terminal or a report: C0/C1 controls (ESC, BEL, CR, NUL, ...) become `\\x1b`, bidirectional overrides and
    isolates, zero-width characters and the BOM become `\\u202e`, lone surrogates `\\udcff` (so every encoder
    accepts the result), astral format characters `\\U000e0041`. A name can then never act as an escape sequence,
    reorder the text around it, hide characters, or crash the writer.
    """
    return _CONTROL.sub(_escape, text)
