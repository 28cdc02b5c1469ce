"""Provides `VerdictCollector`: each sample's verdict at the final outputs (do they agree, the largest |Δ|, top-1 and
top-5 of each side), gathered chunk by chunk at OLD's first model output row, and each sample's first failing row.
"""

from __future__ import annotations

import numpy as np

from kstep.analysis import SampleVerdict
from kstep.ir import ModelSpec

TOP = 5
DISTRIBUTION_ATOL = 1e-3  # |sum - 1| within which a non-negative row counts as a distribution (top-5 shown)


def output_keys(model: ModelSpec) -> set[str]:
    """The dump keys of the model's outputs."""
    keys = set()
    for r in model.outputs:
        spec = model.layer(r.layer)
        keys.add(r.layer if len(spec.calls) == 1 else f"{r.layer}@{r.call}")
    return keys


class VerdictCollector:
    """Per-sample verdicts over a set of `count` samples whose first has absolute index `first`."""

    def __init__(self, count: int, first: int):
        self.count, self.first = count, first
        self.first_row = np.full(count, -1, dtype=np.int64)
        self.verdicts: dict[int, SampleVerdict] = {}
        self.output_row: int | None = None  # the row the verdicts come from (the first output row judged)

    def fails(self, row: int, samples: np.ndarray, fails: np.ndarray) -> None:
        """Row `row` (in OLD's order) fails on samples[fails] (absolute indices): a sample's first failing row."""
        rel = samples[fails] - self.first
        fresh = rel[self.first_row[rel] < 0]
        self.first_row[fresh] = row

    def outputs(self, row: int, samples: np.ndarray, old: np.ndarray, new: np.ndarray, fails: np.ndarray,
                max_abs: np.ndarray | None) -> None:
        """The final outputs of a chunk (OLD's first output and NEW's, mapped into OLD's layout, same shape)."""
        if self.output_row is None:
            self.output_row = row
        if row != self.output_row:
            return
        top1 = old.ndim == 2 and old.shape[1] > 0
        top5 = top1 and old.shape[1] >= TOP
        for i, s in enumerate(samples):
            a, b = old[i], new[i]
            t5o = t5n = None
            if top5 and _distribution(a):
                t5o, t5n = _top(a), _top(b)
            self.verdicts[int(s)] = SampleVerdict(
                int(s), not bool(fails[i]), int(np.argmax(a)) if top1 else None, int(np.argmax(b)) if top1 else None,
                None if max_abs is None or a.size == 0 else float(max_abs[i]), t5o, t5n)

    def result(self) -> list[SampleVerdict]:
        """The verdicts in sample order, each with its first failing row."""
        out = []
        for s in sorted(self.verdicts):
            v = self.verdicts[s]
            fr = int(self.first_row[s - self.first])
            v.first_row = None if fr < 0 else fr
            out.append(v)
        return out


def _distribution(a: np.ndarray) -> bool:
    """A finite, non-negative vector summing to 1 (a softmax output)."""
    with np.errstate(invalid="ignore"):
        total = float(a.sum(dtype=np.float64))
        return bool(np.isfinite(a).all() and (a >= 0).all() and abs(total - 1) <= DISTRIBUTION_ATOL)


def _top(a: np.ndarray) -> tuple[int, ...]:
    """The indices of the TOP largest values, largest first (ties by index)."""
    order = np.argsort(-a.astype(np.float64), kind="stable")[:TOP]
    return tuple(int(i) for i in order)
