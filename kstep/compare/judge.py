"""Provides `judge_row`: one aligned layer pair, computed, -> its `Row` (status, statistics, weights, config).

Pure: it needs no model file, only what the runs produced for the two layer calls (`Computed`: arrays, layout
tags, the LayerSpec, weights, semantics) and the isolated outputs (NEW's layer fed OLD's inputs), so a test can
judge a row from numpy arrays. The verdict, in this order: shapes that differ after layout mapping are a MISMATCH;
an isolated comparison that fails is a DIVERGE (the layer adds the error); weights that differ are a MISMATCH; a
propagated comparison that fails is INHERITED when the isolated one passed (else DIVERGE); a pass that needed the
noise-widened default atol is NOISE; else AGREE. The note says, besides, when the outputs have 0 elements (nothing
was compared) and when the float32 noise could not be measured (the default atol fell back to MIN_ATOL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kstep.analysis import (
    AGREE,
    DIVERGE,
    INHERITED,
    MISMATCH,
    NOISE,
    PENDING,
    UNMATCHED,
    UNSUPPORTED,
    Row,
    Side,
    Stats,
    Tolerance,
)
from kstep.compare.align import Item
from kstep.compare.config_diff import config_diff
from kstep.compare.effective import compare_weights
from kstep.compare.layout import PLAIN, Tag, describe, to_old
from kstep.compare.metrics import worst
from kstep.compare.pending import static_side
from kstep.compare.tolerance import NOISE_UNMEASURABLE, is_noise_only, noise_unmeasurable, weight_tolerance
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

NOT_COMPUTED = "not computed: it depends on an unsupported layer"
NO_ELEMENTS = "0 elements: nothing to compare"


@dataclass(frozen=True)
class Computed:
    """One model's layer call as its run left it. outputs: arrays (batch first) in this model's layout, with
    `out_tags` their layout tags; in_tag / in_rank: the first input's tag and ndim (None when the call read no
    arrays); weights: as executed, needed only when `needs_weights` says so; unsupported: why the layer could not
    run; skipped: an input came from an unsupported layer."""

    key: str
    spec: LayerSpec
    semantics: Semantics
    outputs: tuple[np.ndarray, ...] = ()
    out_tags: tuple[Tag, ...] = ()
    in_tag: Tag | None = None
    in_rank: int | None = None
    weights: tuple[np.ndarray, ...] = ()
    unsupported: str | None = None
    skipped: bool = False

    @property
    def side(self) -> Side:
        """This call as one half of a row."""
        shape = tuple(self.outputs[0].shape) if self.outputs else None
        return Side(self.key, self.spec.name, self.spec.class_name, self.spec.kind, shape, dict(self.spec.params))


@dataclass(frozen=True)
class RowInput:
    """Everything one row is judged from. old_item / new_item: the aligned pair (None: one model only);
    old / new: the computed calls (None: the run never reached them); isolated: NEW's layer fed OLD's inputs,
    its outputs in OLD's layout (None: not run, or it could not be fed)."""

    index: int
    old_item: Item | None
    new_item: Item | None
    old: Computed | None
    new: Computed | None
    tolerance: Tolerance
    isolated: Sequence[np.ndarray] | None = None


def comparable(old: Computed | None, new: Computed | None) -> bool:
    """Both calls ran and produced outputs: the pair's outputs can be compared."""
    return (old is not None and new is not None and not old.unsupported and not new.unsupported
            and not old.skipped and not new.skipped and bool(old.outputs) and bool(new.outputs))


def layer_level(old: Computed | None, new: Computed | None) -> bool:
    """Comparable, and neither side is a nested model: weights and the isolated re-run apply."""
    return (comparable(old, new) and old is not None and new is not None
            and old.spec.kind != "Model" and new.spec.kind != "Model")


def needs_weights(old: Computed | None, new: Computed | None) -> bool:
    """The pair's weights are compared (so `Computed.weights` must hold them)."""
    return layer_level(old, new) and old is not None and new is not None and bool(old.spec.weights or new.spec.weights)


def judge_row(inp: RowInput) -> Row:
    """The row of one aligned pair (see the module docstring for the order of the verdicts)."""
    o, n = inp.old, inp.new
    row = Row(inp.index, o.side if o else static_side(inp.old_item), n.side if n else static_side(inp.new_item),
              PENDING)
    if inp.old_item is None or inp.new_item is None:
        row.status = UNMATCHED
        row.note = "present in OLD only" if inp.new_item is None else "present in NEW only"
        return row
    if o is None or n is None:
        row.note = NOT_COMPUTED
        return row
    if o.unsupported or n.unsupported:
        row.status = UNSUPPORTED
        bad, label = (o, "OLD") if o.unsupported else (n, "NEW")
        row.note = f"{label} layer {bad.spec.class_name} is unsupported: {bad.unsupported}"
        return row
    if not comparable(o, n):
        row.note = NOT_COMPUTED
        return row
    tol = inp.tolerance
    row.layout = describe(o.out_tags[0], n.out_tags[0])
    propagated = propagated_stats(o, n, tol)
    row.propagated = propagated
    in_tags = (o.in_tag, n.in_tag) if o.in_tag is not None and n.in_tag is not None else None
    rank = o.in_rank if in_tags is not None else o.outputs[0].ndim
    row.config_diff = config_diff(o.spec.params, n.spec.params, rank, row.layout != "same", in_tags)
    if layer_level(o, n):
        if needs_weights(o, n):
            row.weights = compare_weights(o.spec, list(o.weights), o.semantics, o.in_tag or PLAIN,
                                          n.spec, list(n.weights), n.semantics, n.in_tag or PLAIN,
                                          weight_tolerance(tol))
        row.isolated = None if inp.isolated is None else worst(o.outputs, inp.isolated, tol)
    if propagated.shape_old != propagated.shape_new:
        row.status = MISMATCH
        row.note = f"shape {propagated.shape_old} vs {propagated.shape_new} (after layout mapping)"
    elif row.isolated is not None and not row.isolated.passed:
        row.status = DIVERGE
    elif not row.weights_ok:
        row.status = MISMATCH
        row.note = "weights differ"
    elif not propagated.passed:
        row.status = INHERITED if row.isolated is not None else DIVERGE
    elif is_noise_only(tol, propagated.excess):
        row.status = NOISE  # passes only because the measured float32 noise widened atol
    else:
        row.status = AGREE
    extra = [text for text, applies in ((NO_ELEMENTS, _empty(o) and _empty(n)),
                                        (NOISE_UNMEASURABLE, noise_unmeasurable(tol))) if applies]
    row.note = "; ".join(([row.note] if row.note else []) + extra)
    return row


def _empty(c: Computed) -> bool:
    """Every output of the call has 0 elements (a 0-unit layer)."""
    return all(x.size == 0 for x in c.outputs)


def propagated_stats(old: Computed, new: Computed, tol: Tolerance) -> Stats:
    """Each model's own outputs compared (NEW's mapped into OLD's layout), the worst of them; fails when the
    output counts differ. Both sides must have outputs."""
    mapped = [to_old(b, ta, tb) for b, ta, tb in zip(new.outputs, old.out_tags, new.out_tags)]
    found = worst(old.outputs, mapped, tol)
    assert found is not None, "propagated_stats needs outputs on both sides"
    if len(old.outputs) != len(new.outputs):
        found.passed = False
    return found
