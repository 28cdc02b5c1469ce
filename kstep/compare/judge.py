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

from dataclasses import dataclass, replace
from typing import Callable, Sequence

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
    VerdictKind,
)
from kstep.compare.align import Item
from kstep.compare.config_diff import config_diff
from kstep.compare.effective import compare_weights
from kstep.compare.layout import PLAIN, Tag, describe, to_old
from kstep.compare.metrics import worst_of
from kstep.compare.pending import static_side
from kstep.compare.sample_errors import SampleErrors, StatsAccumulator, sample_errors
from kstep.compare.tolerance import NOISE_UNMEASURABLE, is_noise_only, noise_unmeasurable, weight_tolerance
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

NOT_COMPUTED = "not computed: it depends on an unsupported layer"
NO_ELEMENTS = "0 elements: nothing to compare"
SAME_COMPUTATION = ("not re-run isolated: NEW's layer is OLD's computation (same kind, config, semantics and identical "
                    "weights), so fed OLD's inputs it gives OLD's output")


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


Isolate = Callable[[np.ndarray], Sequence[np.ndarray] | None]
"""mask over a chunk's samples -> NEW's layer fed OLD's inputs for those samples, outputs in OLD's layout (None: it
cannot be fed or run)."""


class RowJudge:
    """One aligned pair judged over a sample set: `start` with the first chunk's calls (sides, layout, config,
    weights), `add` each chunk's outputs (per-sample statistics, and the isolated re-run for the samples whose
    propagated comparison fails, only those, and only until it has failed once: the row then diverges on its own
    whatever later samples show, so its isolated statistics cover the samples re-run up to then), then `row`. See
    the module docstring for the order of the verdicts."""

    def __init__(self, index: int, old_item: Item | None, new_item: Item | None, tolerance: Tolerance,
                 skip_same: bool = True, weights: bool = True):
        """skip_same: no isolated re-run for a layer that is OLD's computation exactly (`same_computation`).
        weights: compare the pair's weights (False: outputs only, CompareOptions.outputs_only)."""
        self.index, self.old_item, self.new_item, self.tolerance = index, old_item, new_item, tolerance
        self.skip_same, self.weights = skip_same, weights
        self.base = Row(index, static_side(old_item), static_side(new_item), PENDING)
        self.comparable = False
        self.level = False
        self.props: list[StatsAccumulator] = []
        self.iso: list[StatsAccumulator] | None = None
        self.iso_missing = False
        self.iso_failed = False  # the isolated re-run already failed: the row diverges on its own, no more re-runs
        self.same_computation = False  # NEW's layer is OLD's computation exactly: its isolated re-run is OLD's output
        self.shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # a per-sample shape mismatch
        self.count_mismatch = False
        self.beyond = 0
        self.empty = False
        self.last: list[SampleErrors] = []  # the last chunk's per-sample errors, per output

    def start(self, o: Computed | None, n: Computed | None) -> None:
        """The static verdicts (one model only, not computed, unsupported) and the pair's layout, config and weights,
        from the first chunk's calls."""
        row = self.base
        row.old, row.new = (o.side if o else static_side(self.old_item)), (n.side if n else static_side(self.new_item))
        if self.old_item is None or self.new_item is None:
            row.status = UNMATCHED
            row.note = "present in OLD only" if self.new_item is None else "present in NEW only"
            return
        if o is None or n is None:
            row.note = NOT_COMPUTED
            return
        if o.unsupported or n.unsupported:
            row.status = UNSUPPORTED
            bad, label = (o, "OLD") if o.unsupported else (n, "NEW")
            row.note = f"{label} layer {bad.spec.class_name} is unsupported: {bad.unsupported}"
            return
        if not comparable(o, n):
            row.note = NOT_COMPUTED
            return
        self.comparable, self.level = True, layer_level(o, n)
        row.layout = describe(o.out_tags[0], n.out_tags[0])
        in_tags = (o.in_tag, n.in_tag) if o.in_tag is not None and n.in_tag is not None else None
        rank = o.in_rank if in_tags is not None else o.outputs[0].ndim
        row.config_diff = config_diff(o.spec.params, n.spec.params, rank, row.layout != "same", in_tags)
        if self.weights and needs_weights(o, n):
            row.weights = compare_weights(o.spec, list(o.weights), o.semantics, o.in_tag or PLAIN,
                                          n.spec, list(n.weights), n.semantics, n.in_tag or PLAIN,
                                          weight_tolerance(self.tolerance))
        self.count_mismatch = len(o.outputs) != len(n.outputs)
        self.empty = _empty(o) and _empty(n)
        self.same_computation = self.skip_same and self.level and same_computation(o, n, row)

    def add(self, o: Computed, n: Computed, samples: np.ndarray, isolate: Isolate | None) -> np.ndarray | None:
        """Fold in one chunk (samples: their absolute indices); -> per sample, whether its propagated comparison
        fails (None for a pair that is not compared)."""
        if not self.comparable:
            return None
        tol = self.tolerance
        fails = np.zeros(len(samples), dtype=bool)
        self.last = []
        mapped = [to_old(b, ta, tb) for b, ta, tb in zip(n.outputs, o.out_tags, n.out_tags)]
        for k, (a, b) in enumerate(zip(o.outputs, mapped)):
            if a.shape[1:] != b.shape[1:] or a.shape[0] != b.shape[0]:
                self.shapes = self.shapes or (tuple(a.shape[1:]), tuple(b.shape[1:]))
                fails[:] = True
                continue
            if len(self.props) <= k:
                self.props.append(StatsAccumulator(tuple(a.shape[1:])))
            errs = sample_errors(a, b, tol.rtol)
            self.last.append(errs)
            fails |= ~self.props[k].add(errs, samples, tol)
        if self.count_mismatch:
            fails[:] = True
        self.beyond += int(fails.sum())
        if self.level and fails.any() and isolate is not None and not self.iso_failed and not self.same_computation:
            got = isolate(fails)
            if got is None:
                self.iso_missing = True
            else:
                self.iso = self.iso if self.iso is not None else []
                every = bool(fails.all())
                for k, (a, b) in enumerate(zip(o.outputs, got)):
                    a = a if every else a[fails]
                    if a.shape != b.shape:
                        self.shapes = self.shapes or (tuple(a.shape[1:]), tuple(b.shape[1:]))
                        continue
                    if len(self.iso) <= k:
                        self.iso.append(StatsAccumulator(tuple(a.shape[1:])))
                    ok = self.iso[k].add(sample_errors(a, b, tol.rtol), samples if every else samples[fails], tol)
                    self.iso_failed = self.iso_failed or not ok.all()
        return fails

    def row(self) -> Row:
        """The row as judged so far."""
        row = replace(self.base, weights=list(self.base.weights), config_diff=list(self.base.config_diff))
        if not self.comparable:
            return row
        tol = self.tolerance
        propagated = self._propagated()
        row.propagated = propagated
        n = propagated.samples
        if n:  # the sides' shapes were taken from the first chunk: the batch axis is every sample compared
            row.old, row.new = (s if s is None or not s.shape else replace(s, shape=(n,) + tuple(s.shape[1:]))
                                for s in (row.old, row.new))
        row.isolated = None
        if self.level and self.iso is not None and not self.iso_missing:
            row.isolated = worst_of(s.stats(tol) for s in self.iso)
        if self.shapes is not None:
            row.status = MISMATCH
            row.note = f"shape {propagated.shape_old} vs {propagated.shape_new} (after layout mapping)"
        elif row.isolated is not None and not row.isolated.passed:
            row.status = DIVERGE
        elif not row.weights_ok:
            row.status = MISMATCH
            row.note = "weights differ"
        elif not propagated.passed:
            row.status = INHERITED if row.isolated is not None or self.same_computation else DIVERGE
        elif is_noise_only(tol, propagated.excess):
            row.status = NOISE  # passes only because the measured float32 noise widened atol
        else:
            row.status = AGREE
        extra = [text for text, applies in ((NO_ELEMENTS, self.empty),
                                            (SAME_COMPUTATION, self.same_computation and row.status is INHERITED),
                                            (NOISE_UNMEASURABLE, noise_unmeasurable(tol))) if applies]
        row.note = "; ".join(([row.note] if row.note else []) + extra)
        return row

    def _propagated(self) -> Stats:
        """The worst output's statistics over every sample; a shape mismatch as metrics.compare_arrays gives it."""
        tol = self.tolerance
        samples = max((acc.samples for acc in self.props), default=0)
        if self.shapes is not None:
            n = samples or self.beyond
            return Stats(float("inf"), float("inf"), float("inf"), None, None, None, 0, False, tol,
                         (n,) + self.shapes[0], (n,) + self.shapes[1], samples=n, samples_beyond=n)
        found = worst_of(acc.stats(tol) for acc in self.props)
        assert found is not None, "a compared pair has outputs"
        found.samples_beyond = self.beyond
        if self.count_mismatch:
            found.passed = False
        return found


def same_computation(o: Computed, n: Computed, row: Row) -> bool:
    """NEW's layer computes exactly what OLD's does: the same kind and params (names aside), the same semantics, no
    layout mapping on either side, and every weight identical (so fed OLD's inputs it returns OLD's output, and the
    isolated re-run can be skipped)."""
    def params(c: Computed) -> dict:
        return {k: v for k, v in c.spec.params.items() if k not in ("name", "trainable")}

    return (o.spec.kind == n.spec.kind and o.semantics == n.semantics and row.layout == "same"
            and o.in_tag == n.in_tag and params(o) == params(n) and not row.config_diff
            and len(o.weights) == len(n.weights)
            and all(w.verdict.kind is VerdictKind.IDENTICAL for w in row.weights)
            and len(row.weights) == len(o.spec.weights))


def judge_row(inp: RowInput) -> Row:
    """One aligned pair judged on one chunk holding every sample (inp.isolated: NEW's layer fed OLD's inputs for
    every sample; only the samples whose propagated comparison fails are looked at)."""
    judge = RowJudge(inp.index, inp.old_item, inp.new_item, inp.tolerance, skip_same=False)
    judge.start(inp.old, inp.new)
    if judge.comparable:
        assert inp.old is not None and inp.new is not None
        iso = inp.isolated
        judge.add(inp.old, inp.new, np.arange(inp.old.outputs[0].shape[0] if inp.old.outputs[0].ndim else 1),
                  None if iso is None else (lambda mask: [x[mask] for x in iso]))
    return judge.row()


def _empty(c: Computed) -> bool:
    """Every output of the call has 0 elements (a 0-unit layer)."""
    return all(x.size == 0 for x in c.outputs)
