"""Provides the words every report format shows for repairs: whether a verified cause is a fix `kstep fix` can write
into NEW's file, and the "Fixes applied" section of `kstep fix`'s report (plain text; each format escapes it)."""

from __future__ import annotations

from kstep.analysis import Analysis, Hypothesis
from kstep.edits import AppliedFix


def fixability(h: Hypothesis) -> str | None:
    """For an explaining hypothesis: what `kstep fix` writes into NEW's file, or why it cannot; None otherwise."""
    if not h.explains:
        return None
    if h.unfixable:
        return f"kstep fix cannot write this into NEW's file: {h.unfixable}"
    if h.edits:
        return "kstep fix writes this into NEW's file: " + "; ".join(e.describe() for e in h.edits)
    return None


def changes(fix: AppliedFix) -> str:
    """One fix's edits as words."""
    return "; ".join(e.describe() for e in fix.edits)


def fixes_verdict(a: Analysis) -> str:
    """The final verdict of OLD vs FIXED, as `kstep fix` re-read FIXED from disk."""
    n = sum(len(f.edits) for f in a.fixes)
    head = f"{len(a.fixes)} fix(es), {n} edit(s) of NEW's file; OLD vs FIXED, compared from scratch: "
    if a.agree:
        return head + "the models agree"
    first = a.first_divergence
    if first is None:
        return head + "stopped at an unsupported layer"
    return head + f"a divergence remains at {first.old_layer or first.new_layer}" + (
        f" ({first.cause})" if first.cause else "")
