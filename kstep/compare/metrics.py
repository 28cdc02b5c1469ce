"""Provides `compare_arrays`: two arrays (OLD, NEW mapped onto OLD's layout) -> `Stats` under a `Tolerance`; `worst`
of several such comparisons; `max_abs`, the bare largest difference (the float32 noise statistic).

One tolerance definition everywhere: an element agrees when |a - b| <= atol + rtol * |b|, b = OLD's value.
Values are cast up to float64 before subtracting. NaN at the same positions on both sides match, and so does the same
inf; any other NaN or inf pattern (NaN vs a number, inf vs a number, +inf vs -inf) fails whatever the tolerance,
even an infinite one. max_rel uses a floor of 1 on |b| (so tiny reference values do not explode it). A zero-size pair
(same shape) passes with no worst element: there is nothing to compare.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from kstep.analysis import Stats, Tolerance

REL_FLOOR = 1.0


def compare_arrays(old: np.ndarray, new: np.ndarray, tol: Tolerance) -> Stats:
    """Element statistics of NEW against OLD; shapes must already match (else a failing Stats with inf)."""
    old = np.asarray(old)
    new = np.asarray(new)
    if old.shape != new.shape:
        return Stats(float("inf"), float("inf"), float("inf"), None, None, None, 0, False, tol,
                     tuple(old.shape), tuple(new.shape))
    if old.size == 0:
        return Stats(0.0, 0.0, 0.0, None, None, None, 0, True, tol, tuple(old.shape), tuple(new.shape), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(old).all() and np.isfinite(new).all():
            return _compare_finite(old, new, tol)
        return _compare(old.astype(np.float64), new.astype(np.float64), tol, tuple(old.shape), tuple(new.shape))


CHUNK = 1 << 15
"""Elements per block in `_compare_finite`: its float64 buffers (a few times 256 KiB) stay in the CPU cache."""


def _compare_finite(old: np.ndarray, new: np.ndarray, tol: Tolerance) -> Stats:
    """The common case, all values finite: the same statistics, computed block by block in float64 buffers that
    stay in cache (a whole-array float64 pass per statistic costs more than the engine run of the layer)."""
    shapes = (tuple(old.shape), tuple(new.shape))
    if old.dtype == new.dtype and np.array_equal(old, new):
        first = (0,) * old.ndim
        excess = -tol.rtol * float(np.abs(old).min())
        return Stats(0.0, 0.0, 0.0, first, float(old[first]), float(new[first]), 0, excess <= tol.atol, tol,
                     *shapes, excess)
    o, n = old.reshape(-1), new.reshape(-1)
    size = o.size
    m = min(size, CHUNK)
    diff, absb, tmp = np.empty(m), np.empty(m), np.empty(m)
    max_abs_, flat, total, max_excess, max_rel = -1.0, 0, 0.0, -np.inf, 0.0
    for start in range(0, size, CHUNK):
        k = min(CHUNK, size - start)
        d, ab, t = diff[:k], absb[:k], tmp[:k]
        np.subtract(n[start:start + k], o[start:start + k], out=d, dtype=np.float64)
        np.abs(d, out=d)
        np.abs(o[start:start + k], out=ab, dtype=np.float64)
        i = int(np.argmax(d))
        if d[i] > max_abs_:
            max_abs_, flat = float(d[i]), start + i
        total += float(d.sum())
        np.multiply(ab, -tol.rtol, out=t)
        t += d
        max_excess = max(max_excess, float(t.max()))
        np.maximum(ab, REL_FLOOR, out=ab)
        np.divide(d, ab, out=ab)
        max_rel = max(max_rel, float(ab.max()))
    worst = tuple(int(i) for i in np.unravel_index(flat, old.shape))
    return Stats(max_abs_, max_rel, total / size, worst, float(old[worst]), float(new[worst]), 0,
                 max_excess <= tol.atol, tol, *shapes, max_excess)


def nonfinite_pattern(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element masks (same, bad): `same` where both sides hold NaN or the same inf (they match), `bad` where any other
    NaN or inf stands (NaN vs a number, inf vs a number, +inf vs -inf: a mismatch whatever the tolerance)."""
    same = (np.isnan(old) & np.isnan(new)) | (np.isinf(old) & np.isinf(new) & (np.sign(old) == np.sign(new)))
    return same, ~same & ~(np.isfinite(old) & np.isfinite(new))


def _compare(b: np.ndarray, a: np.ndarray, tol: Tolerance, shape_old: tuple, shape_new: tuple) -> Stats:
    """The general case: NaN and inf handled element by element."""
    diff = np.abs(a - b)
    same, bad_nonfinite = nonfinite_pattern(b, a)
    diff = np.where(same, 0.0, diff)
    diff = np.where(bad_nonfinite, np.inf, diff)
    nan_mismatch = int(np.count_nonzero(np.isnan(a) ^ np.isnan(b)))
    excess = diff - tol.rtol * np.abs(np.where(np.isfinite(b), b, 0.0))
    max_excess = float(excess.max())
    ok = not bad_nonfinite.any() and max_excess <= tol.atol  # a differing inf/NaN pattern never passes
    rel = diff / np.maximum(np.abs(np.where(np.isfinite(b), b, 0.0)), REL_FLOOR)
    flat = int(np.argmax(diff))
    worst = np.unravel_index(flat, diff.shape)
    finite = diff[np.isfinite(diff)]
    return Stats(
        max_abs=float(diff.max()),
        max_rel=float(rel.max()),
        mean_abs=float(finite.mean()) if finite.size else float("inf"),
        worst_index=tuple(int(i) for i in worst),
        worst_old=float(b[worst]),
        worst_new=float(a[worst]),
        nan_mismatch=nan_mismatch,
        passed=ok,
        tolerance=tol,
        shape_old=shape_old,
        shape_new=shape_new,
        excess=max_excess,
    )


def worst(olds: Sequence[np.ndarray], news: Sequence[np.ndarray], tol: Tolerance) -> Stats | None:
    """The worst of several output comparisons (pairs in order), by `worst_of`; None when there is no pair."""
    return worst_of(compare_arrays(a, b, tol) for a, b in zip(olds, news))


def worst_of(stats: Iterable[Stats]) -> Stats | None:
    """The worst of several comparisons, in order: a failing one before a passing one, then the larger error; None
    when there is none."""
    found: Stats | None = None
    for s in stats:
        if found is None or (found.passed and not s.passed) or (s.passed == found.passed and s.max_abs > found.max_abs):
            found = s
    return found


def max_abs(old: np.ndarray, new: np.ndarray) -> float:
    """max |new - old| in float64: NaN on both sides or the same inf at a position count 0 there; inf for a shape
    mismatch or any other non-finite difference (the float32 noise is then not measurable: see
    kstep.compare.tolerance)."""
    if np.shape(old) != np.shape(new):
        return float("inf")
    if np.size(old) == 0:
        return 0.0
    o, n = np.asarray(old).reshape(-1), np.asarray(new).reshape(-1)
    buf = np.empty(min(o.size, CHUNK))
    best = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, o.size, CHUNK):
            d = buf[:min(CHUNK, o.size - start)]
            np.subtract(n[start:start + d.size], o[start:start + d.size], out=d, dtype=np.float64)
            np.abs(d, out=d)
            m = float(d.max())  # NaN when any difference is NaN
            if not np.isfinite(m):
                best = m
                break
            best = max(best, m)
    if np.isfinite(best):
        return best
    o64, n64 = np.asarray(old, np.float64), np.asarray(new, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(n64 - o64)
    same = (o64 == n64) | (np.isnan(o64) & np.isnan(n64))  # the same inf, or NaN on both sides
    d = np.where(same, 0.0, np.where(np.isnan(d), np.inf, d))
    return float(d.max())
