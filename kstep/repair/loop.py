"""Provides `kstep fix`'s rounds: compare OLD with NEW as edited so far, apply the verified in-file fix of the first
divergence (and of every later layer the diagnosis names as having the same mistake), and again, until the models
agree or the first divergence has no such fix.

A round's fix is the explaining hypothesis's `edits` (kstep.edits): functions of NEW's own arrays and config only.
Each round re-runs the whole comparison on NEW's file with every edit so far applied in memory
(kstep.repair.patch), so a fix counts only when NEW's file, edited, reproduces OLD. The loop stops when a round
would repeat an earlier one (the edit did not close the gap in the whole model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Sequence

import numpy as np

from kstep.analysis import Analysis, FirstDivergence, Hypothesis, Reason, Row, WeightTransform
from kstep.compare.divergence import SAME_MISTAKE
from kstep.compare.fixes import Supplied
from kstep.compare.once import compare_once
from kstep.edits import AppliedFix, Edit, FixOp
from kstep.ir import ModelFile
from kstep.kinds import weight_names_of
from kstep.options import CompareOptions
from kstep.repair.accept import old_weights
from kstep.repair.patch import apply_edits

MAX_ROUNDS = 64
"""Rounds before the loop gives up (each fixes at least one layer; a model needing more is reported as is)."""

SAME_OP = {WeightTransform.SPATIAL_FLIP: FixOp.FLIP_SPATIAL,
           WeightTransform.KERNEL_ROWS_COLUMNS: FixOp.SWAP_ROWS_COLUMNS,
           WeightTransform.GATE_ORDER: FixOp.PERMUTE_GATES}
"""A weight transform the diagnosis names in other layers -> the op that undoes it there (FLATTEN_ROW_ORDER's
rows depend on each layer's input, so those layers are fixed in their own rounds)."""


class Stop(StrEnum):
    """Why the rounds ended."""

    AGREE = "agree"  # OLD and NEW as edited agree
    NO_FIX = "no_fix"  # the first divergence has no verified in-file fix
    UNSUPPORTED = "unsupported"  # stopped at a layer kstep cannot execute
    NO_PROGRESS = "no_progress"  # the same divergence came back after its fix was applied
    TOO_MANY = "too_many"  # MAX_ROUNDS reached


@dataclass
class Outcome:
    """What the rounds did: the edits (in order), the fixes as reported, the last comparison (OLD vs NEW edited in
    memory), why they stopped, and the explaining-but-unfixable hypothesis at the remaining divergence, if any."""

    edits: list[Edit]
    fixes: list[AppliedFix]
    analysis: Analysis
    stop: Stop
    blocker: Hypothesis | None = None
    rounds: int = 0
    notes: list[str] = field(default_factory=list)
    supplied: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # --accept-old-weights arrays


def compare(old: str, new: str, ref: str, ref_new: str | None, options: CompareOptions, command: list[str],
            edits: Sequence[Edit] = (), supplied: Supplied | None = None) -> Analysis:
    """One full comparison of OLD with NEW's file as `edits` change it (in memory)."""
    patch: Callable[[ModelFile], None] | None = (lambda mf: apply_edits(mf, edits, supplied)) if edits else None
    return compare_once(old, new, ref, ref_new, options, command, patch)


def same_mistake(first: FirstDivergence, fix: Sequence[Edit], rows: Sequence[Row]) -> list[Edit]:
    """The first divergence's fix extended to every later layer whose weights show the same transform."""
    transform = SAME_MISTAKE.get(first.cause or "")
    op = SAME_OP.get(transform) if transform is not None else None
    if op is None:
        return []
    done = {e.layer for e in fix}
    out = []
    for row in rows[first.row + 1:]:
        if row.new is None or row.new.key in done:
            continue
        marked = [(i, w.verdict) for i, w in enumerate(row.weights) if w.verdict.transform is transform]
        if not marked:
            continue
        if op is FixOp.PERMUTE_GATES:
            perm = marked[0][1].perm
            if not perm or any(v.perm != perm for _, v in marked):
                continue
            out.append(Edit(row.new.key, op, weights=tuple(range(min(3, len(row.weights)))), args=perm,
                            names=_names(row)))
        else:
            out.append(Edit(row.new.key, op, weights=tuple(i for i, _ in marked), names=_names(row)))
        done.add(row.new.key)
    return out


def _names(row: Row) -> tuple[str, ...]:
    """NEW's canonical weight names at a row (for the reports' words)."""
    assert row.new is not None
    return tuple(weight_names_of(row.new.kind, row.new.params) or ())


def fixable(first: FirstDivergence, h: Hypothesis | None, accept: frozenset[str]) -> bool:
    """The explaining hypothesis is an edit of NEW's file, or OLD's weights for a layer the user accepts them for."""
    if h is None or not h.edits:
        return False
    if not h.unfixable:
        return True
    return h.code == "weights_changed" and bool({first.new_layer, first.old_layer} & accept)


def run_rounds(old: str, new: str, ref: str, ref_new: str | None, options: CompareOptions, command: list[str],
               progress: Callable[[str], None] | None = None, accept: frozenset[str] = frozenset()) -> Outcome:
    """Compare, fix, compare again ... (see the module docstring). accept: layers (NEW's or OLD's names) whose
    differing weights are replaced by OLD's (--accept-old-weights)."""
    supplied: dict[tuple[str, int], np.ndarray] = {}
    edits: list[Edit] = []
    applied: list[AppliedFix] = []
    seen: set[tuple[int, str | None, tuple[Edit, ...]]] = set()
    analysis = compare(old, new, ref, ref_new, options, command)
    for round_no in range(1, MAX_ROUNDS + 1):
        if applied and applied[-1].after is None:
            applied[-1] = _with_after(applied[-1], analysis)
        first = analysis.first_divergence
        if first is None:
            stop = Stop.UNSUPPORTED if not analysis.agree else Stop.AGREE
            return Outcome(edits, applied, analysis, stop, rounds=round_no, supplied=supplied)
        if first.reason is Reason.UNSUPPORTED:
            return Outcome(edits, applied, analysis, Stop.UNSUPPORTED, rounds=round_no, supplied=supplied)
        h = first.explanation
        if not fixable(first, h, accept):
            return Outcome(edits, applied, analysis, Stop.NO_FIX, blocker=h, rounds=round_no, supplied=supplied)
        assert h is not None
        fix = list(h.edits) + same_mistake(first, h.edits, analysis.rows)
        supplied.update(old_weights(old, new, options, fix))
        signature = (first.row, first.cause, tuple(fix))
        if signature in seen:
            return Outcome(edits, applied, analysis, Stop.NO_PROGRESS, blocker=h, rounds=round_no,
                           supplied=supplied)
        seen.add(signature)
        edits.extend(fix)
        applied.append(AppliedFix(first.cause or "", h.title, first.new_layer or "", tuple(fix), h.before, None))
        if progress is not None:
            progress(f"round {round_no}: {first.cause} at {first.new_layer}: " + "; ".join(str(e) for e in fix))
        analysis = compare(old, new, ref, ref_new, options, command, edits, supplied)
    return Outcome(edits, applied, analysis, Stop.TOO_MANY, rounds=MAX_ROUNDS, supplied=supplied)


def _with_after(fix: AppliedFix, analysis: Analysis) -> AppliedFix:
    """`fix` with its layer's gap measured in the comparison that followed it (isolated, else propagated)."""
    row = next((r for r in analysis.rows if r.new is not None and r.new.key == fix.layer), None)
    stats = None if row is None else row.isolated or row.propagated
    if stats is None:
        return fix
    return AppliedFix(fix.cause, fix.title, fix.layer, fix.edits, fix.before, stats.max_abs)
