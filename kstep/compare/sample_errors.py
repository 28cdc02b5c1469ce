"""Provides `sample_errors`: two arrays of a chunk of samples (OLD, NEW mapped onto OLD's layout) -> per-sample error
vectors (`SampleErrors`), and `StatsAccumulator`, which folds the chunks of a sample set into one `Stats`.

The same element rule as kstep.compare.metrics (|a - b| <= atol + rtol * |b|, b = OLD's value, float64, NaN at the
same positions and the same inf match, any other non-finite pattern fails whatever the tolerance), reduced per sample
(axis 0) in one blocked pass, so that a chunk's statistics, each sample's verdict and the set's aggregate come from
the same numbers and do not depend on how the samples were chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstep.analysis import Stats, Tolerance
from kstep.compare.metrics import REL_FLOOR, compare_arrays, nonfinite_pattern

BLOCK = 1 << 15
"""Elements per block (a few float32 buffers of 128 KiB, in the CPU cache; measured fastest on this machine)."""


@dataclass
class SampleErrors:
    """Per-sample error vectors of one chunk, each of length n (the chunk's samples). max_abs / max_rel / excess:
    the sample's largest |Δ|, |Δ|/max(|old|, 1) and |Δ| - rtol·|old|; sum_abs / finite: the sum of the finite |Δ|
    and their count (for the mean); worst: the flat index of the sample's largest |Δ| within one sample, with
    worst_old / worst_new the values there; bad: positions whose NaN/inf pattern differs; nan_mismatch: positions
    NaN on one side only; nan_old/new, inf_old/new: non-finite counts per side."""

    max_abs: np.ndarray
    max_rel: np.ndarray
    excess: np.ndarray
    sum_abs: np.ndarray
    finite: np.ndarray
    worst: np.ndarray
    worst_old: np.ndarray
    worst_new: np.ndarray
    bad: np.ndarray
    nan_mismatch: np.ndarray
    nan_old: np.ndarray
    nan_new: np.ndarray
    inf_old: np.ndarray
    inf_new: np.ndarray

    def passed(self, tol: Tolerance) -> np.ndarray:
        """Per sample: within the tolerance (no differing non-finite pattern, every excess within atol)."""
        return (self.bad == 0) & (self.excess <= tol.atol)

    def take(self, mask: np.ndarray) -> SampleErrors:
        """The samples where `mask` holds."""
        return SampleErrors(**{k: v[mask] for k, v in vars(self).items()})


def _empty(n: int) -> SampleErrors:
    z, i = np.zeros(n), np.zeros(n, dtype=np.int64)
    return SampleErrors(z.copy(), z.copy(), np.full(n, -np.inf), z.copy(), i.copy(), i.copy(), z.copy(), z.copy(),
                        i.copy(), i.copy(), i.copy(), i.copy(), i.copy(), i.copy())


def sample_errors(old: np.ndarray, new: np.ndarray, rtol: float) -> SampleErrors:
    """Per-sample errors of NEW against OLD; both (n, ...) with the same shape (the caller checks shapes)."""
    n = old.shape[0]
    out = _empty(n)
    m = int(np.prod(old.shape[1:], dtype=np.int64))
    if m == 0 or n == 0:
        return out
    o, b = old.reshape(n, m), new.reshape(n, m)
    with np.errstate(invalid="ignore", over="ignore"):
        _finite(o, b, rtol, out)
        # any NaN or inf (or a float32 difference that overflowed) leaves a sample's sum non-finite: redo those
        for s in np.flatnonzero(~np.isfinite(out.sum_abs)):
            _general(o[s], b[s], rtol, out, int(s))
    return out


SEGMENT = 4096
"""Fewest contiguous elements per row in a block (column blocks of a C-ordered (n, m) array)."""


def _finite(o: np.ndarray, b: np.ndarray, rtol: float, out: SampleErrors) -> None:
    """Assuming every value finite (the caller redoes the samples where that fails): blocks of about BLOCK elements
    (whole samples when one fits, else column blocks over a group of samples), the differences in the arrays' float
    dtype (|b - o| of two float32 numbers is exact to half an ulp of the result, far below any tolerance), sums in
    float64."""
    n, m = o.shape
    dt = np.result_type(o.dtype, b.dtype, np.float32)
    out.max_abs[:] = -1.0
    out.finite[:] = m
    if m <= BLOCK:
        group, cols = max(1, BLOCK // m), m
    else:
        group = max(1, min(n, BLOCK // SEGMENT))
        cols = max(SEGMENT, BLOCK // group)
    for r0 in range(0, n, group):
        r1 = min(n, r0 + group)
        for c0 in range(0, m, cols):
            _accumulate(o[r0:r1, c0:c0 + cols], b[r0:r1, c0:c0 + cols], rtol, dt, out, r0, c0)
    rows = np.arange(n)
    out.worst_old[:] = o[rows, out.worst]
    out.worst_new[:] = b[rows, out.worst]


def _accumulate(o: np.ndarray, b: np.ndarray, rtol: float, dt: np.dtype, out: SampleErrors, r0: int,
                c0: int) -> None:
    """Fold one block (rows r0.., columns c0..) into the per-sample vectors."""
    k = slice(r0, r0 + o.shape[0])
    rows = np.arange(o.shape[0])
    d = np.subtract(b, o, dtype=dt)
    np.abs(d, out=d)
    idx = np.argmax(d, axis=1)
    top = d[rows, idx].astype(np.float64)
    better = top > out.max_abs[k]
    out.max_abs[k] = np.where(better, top, out.max_abs[k])
    out.worst[k] = np.where(better, c0 + idx, out.worst[k])
    out.sum_abs[k] += d.sum(axis=1).astype(np.float64)  # float32 pairwise sums of a block: ~1e-7 relative
    ab = np.abs(o, dtype=dt)
    t = ab * dt.type(rtol)
    np.subtract(d, t, out=t)
    out.excess[k] = np.maximum(out.excess[k], t.max(axis=1))
    if (ab[rows, idx] <= REL_FLOOR).all():
        # |Δ|/max(|old|, 1) <= |Δ| everywhere, with equality at the largest |Δ| when |old| <= 1 there
        out.max_rel[k] = np.maximum(out.max_rel[k], top)
        return
    np.maximum(ab, REL_FLOOR, out=ab)
    np.divide(d, ab, out=ab)
    out.max_rel[k] = np.maximum(out.max_rel[k], ab.max(axis=1))


def _general(o: np.ndarray, b: np.ndarray, rtol: float, out: SampleErrors, s: int) -> None:
    """One sample with NaN or inf somewhere: the element rule of kstep.compare.metrics."""
    st = compare_arrays(o, b, Tolerance(0.0, rtol))
    ob, nb = o.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(nb - ob)
        same, bad = nonfinite_pattern(ob, nb)
    fin = ~bad & ~same
    out.max_abs[s], out.max_rel[s], out.excess[s] = st.max_abs, st.max_rel, st.excess
    out.sum_abs[s] = float(np.where(fin, d, 0.0).sum()) if fin.any() else 0.0
    out.finite[s] = int(fin.sum() + same.sum())
    flat = int(np.ravel_multi_index(st.worst_index, o.shape)) if st.worst_index is not None else 0
    out.worst[s], out.worst_old[s], out.worst_new[s] = flat, ob[flat], nb[flat]
    out.bad[s], out.nan_mismatch[s] = int(bad.sum()), st.nan_mismatch
    out.nan_old[s], out.nan_new[s] = int(np.isnan(ob).sum()), int(np.isnan(nb).sum())
    out.inf_old[s], out.inf_new[s] = int(np.isinf(ob).sum()), int(np.isinf(nb).sum())


class StatsAccumulator:
    """Folds the `SampleErrors` of successive chunks (each with its samples' absolute indices) into one `Stats`
    over every sample seen. sample_shape: one sample's shape (OLD's and NEW's mapped, the same)."""

    def __init__(self, sample_shape: tuple[int, ...], shape_new: tuple[int, ...] | None = None):
        self.sample_shape = tuple(sample_shape)
        self.sample_shape_new = tuple(shape_new) if shape_new is not None else self.sample_shape
        self.samples = 0
        self.beyond = 0
        self.max_abs = -1.0
        self.max_rel = 0.0
        self.excess = -np.inf
        self.sum_abs = 0.0
        self.finite = 0
        self.worst: tuple[int, ...] | None = None
        self.worst_values: tuple[float, float] | None = None
        self.bad = self.nan_mismatch = self.nan_old = self.nan_new = self.inf_old = self.inf_new = 0

    def add(self, errs: SampleErrors, samples: np.ndarray, tol: Tolerance) -> np.ndarray:
        """Fold in a chunk (samples: absolute indices, same length as the vectors); -> the per-sample pass mask."""
        ok = errs.passed(tol)
        n = len(samples)
        if n == 0:
            return ok
        self.samples += n
        self.beyond += int(n - ok.sum())
        if int(np.prod(self.sample_shape, dtype=np.int64)) == 0:
            return ok  # 0 elements per sample: nothing to compare
        i = int(np.argmax(errs.max_abs))
        if errs.max_abs[i] > self.max_abs or self.worst is None:
            self.max_abs = float(errs.max_abs[i])
            inner = np.unravel_index(int(errs.worst[i]), self.sample_shape) if self.sample_shape else ()
            self.worst = (int(samples[i]),) + tuple(int(x) for x in inner)
            self.worst_values = (float(errs.worst_old[i]), float(errs.worst_new[i]))
        self.max_rel = max(self.max_rel, float(errs.max_rel.max()))
        self.excess = max(self.excess, float(errs.excess.max()))
        self.sum_abs += float(errs.sum_abs.sum())
        self.finite += int(errs.finite.sum())
        for name in ("bad", "nan_mismatch", "nan_old", "nan_new", "inf_old", "inf_new"):
            setattr(self, name, getattr(self, name) + int(getattr(errs, name).sum()))
        return ok

    def stats(self, tol: Tolerance) -> Stats:
        """The Stats over every sample folded in (a set with 0 elements passes with no worst element)."""
        shape_old = (self.samples,) + self.sample_shape
        shape_new = (self.samples,) + self.sample_shape_new
        size = int(np.prod(self.sample_shape, dtype=np.int64)) * self.samples
        if size == 0 or self.worst is None:
            return Stats(0.0, 0.0, 0.0, None, None, None, 0, True, tol, shape_old, shape_new, 0.0,
                         samples=self.samples)
        mean = self.sum_abs / self.finite if self.finite else float("inf")
        worst_old, worst_new = self.worst_values or (None, None)
        return Stats(self.max_abs, self.max_rel, mean, self.worst, worst_old, worst_new, self.nan_mismatch,
                     self.bad == 0 and self.excess <= tol.atol, tol, shape_old, shape_new, self.excess,
                     samples=self.samples, samples_beyond=self.beyond, nan_old=self.nan_old, nan_new=self.nan_new,
                     inf_old=self.inf_old, inf_new=self.inf_new)
