"""Provides what the debugger's `x` (fix) needs without Textual or numpy: whether the analysis offers an in-file
fix (`fix_offer`: the first divergence's explaining hypothesis and its edits, or why not), FIXED's default names
beside NEW (`default_targets`), the comparison's command with NEW replaced by FIXED (`with_fixed`), and `FixDone`,
what a `kstep fix` run in the app ended with.

`x` runs the same `kstep fix` as the CLI (kstep.repair.run.run_fix, called by kstep.tui.session.Session.fix), so it
always starts at the first divergence, whichever row is selected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kstep.analysis import Analysis
from kstep.report.fixes import fixability

DOUBLE_SUFFIXES = (".weights.h5",)
"""Name endings kept whole when FIXED's name is made ('x.weights.h5' -> 'x.fixed.weights.h5': Keras reads the
Keras 3 weights layout only under that ending)."""


@dataclass(frozen=True)
class FixOffer:
    """The fix `x` proposes: the first divergence (NEW's layer name), the verified cause, its title, the edits as
    words, and its gap (max |Δ|) before and with the fix."""

    layer: str
    cause: str
    title: str
    edits: tuple[str, ...]
    before: float | None
    after: float | None


@dataclass(frozen=True)
class FixDone:
    """A `kstep fix` run in the app: its exit code, the FIXED path written (None: nothing written), the lines the
    CLI prints on stderr, and the one-line error of a refused run (a KstepError or an OSError: exit 2)."""

    code: int
    written: str | None
    lines: tuple[str, ...] = ()
    error: str | None = None


def fix_offer(analysis: Analysis | None, running: bool = False) -> FixOffer | str:
    """The first divergence's in-file fix, or the reason there is none (the notification `x` shows)."""
    so_far = " so far" if running or (analysis is not None and not analysis.complete) else ""
    if analysis is None:
        return "nothing to fix yet"
    first = analysis.first_divergence
    if first is None:
        return f"no divergence{so_far}: nothing to fix"
    where = first.new_layer or first.old_layer or "?"
    h = first.explanation
    if h is None:
        return f"no verified fix here{so_far}: the first divergence {where} has no verified cause"
    if h.unfixable:
        return f"{h.code} at {where}: {fixability(h)}"
    if not h.edits:
        return f"no verified fix here: {h.code} at {where} is not an edit of NEW's file"
    return FixOffer(where, h.code, h.title, tuple(e.describe() for e in h.edits), h.before, h.after)


def fixed_name(path: str) -> str:
    """`<stem>.fixed<ext>` beside `path` ('m/new.h5' -> 'm/new.fixed.h5', 'w.weights.h5' -> 'w.fixed.weights.h5')."""
    directory, name = os.path.split(path)
    ext = next((name[-len(s):] for s in DOUBLE_SUFFIXES if name.lower().endswith(s)), os.path.splitext(name)[1])
    stem = name[:len(name) - len(ext)] if ext else name
    return os.path.join(directory, f"{stem}.fixed{ext}")


def default_targets(new: str, weights_new: str | None) -> tuple[str, str | None]:
    """(FIXED, its architecture JSON or None). NEW given as an architecture JSON + weights (--weights-new): FIXED
    is the weights file, beside NEW's weights, and the JSON is always written too, `<json stem>.fixed.json` beside
    NEW (a config edit needs it; without one it is NEW's JSON unchanged), so OLD vs FIXED is one pair of files."""
    if weights_new is None:
        return fixed_name(new), None
    directory, name = os.path.split(new)
    return fixed_name(weights_new), os.path.join(directory, f"{os.path.splitext(name)[0]}.fixed.json")


def with_fixed(command: list[str], new: str, weights_new: str | None, fixed: str, arch_out: str | None
               ) -> list[str]:
    """The comparison's command (`kstep report OLD NEW REF ...`) with NEW's file(s) replaced by FIXED's."""
    swap = {new: arch_out or new} if weights_new is not None else {new: fixed}
    if weights_new is not None:
        swap[weights_new] = fixed
    out = []
    for item in command:
        if item.startswith("--weights-new=") and weights_new is not None:
            item = "--weights-new=" + swap.get(item.split("=", 1)[1], item.split("=", 1)[1])
        out.append(swap.get(item, item))
    return out
