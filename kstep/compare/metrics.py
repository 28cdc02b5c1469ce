"""Provides `compare_arrays`: two arrays (OLD, NEW mapped onto OLD's layout) -> `Stats` under a `Tolerance`.

One tolerance definition everywhere: an element agrees when |a - b| <= atol + rtol * |b|, b = OLD's value.
Values are cast up to float64 before subtracting. NaN at the same positions on both sides match; any other NaN or
Inf mismatch fails. max_rel uses a floor of 1 on |b| (so tiny reference values do not explode it).
"""

from __future__ import annotations

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


def _compare_finite(old: np.ndarray, new: np.ndarray, tol: Tolerance) -> Stats:
    """The common case, all values finite: the same statistics with in-place float64 buffers (fewer passes)."""
    diff = new.astype(np.float64)
    np.subtract(diff, old, out=diff)
    np.abs(diff, out=diff)
    absb = np.abs(old, dtype=np.float64)
    flat = int(np.argmax(diff))
    worst = np.unravel_index(flat, diff.shape)
    max_abs_ = float(diff.flat[flat])
    mean_abs = float(diff.mean())
    excess = np.multiply(absb, -tol.rtol)
    excess += diff
    max_excess = float(excess.max())
    np.maximum(absb, REL_FLOOR, out=absb)
    np.divide(diff, absb, out=absb)
    return Stats(max_abs_, float(absb.max()), mean_abs, tuple(int(i) for i in worst), float(old[worst]),
                 float(new[worst]), 0, max_excess <= tol.atol, tol, tuple(old.shape), tuple(new.shape),
                 max_excess)


def _compare(b: np.ndarray, a: np.ndarray, tol: Tolerance, shape_old: tuple, shape_new: tuple) -> Stats:
    """The general case: NaN and inf handled element by element."""
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    both_nan = nan_a & nan_b
    diff = np.abs(a - b)
    # inf on both sides with the same sign is equal; anything else non-finite is a mismatch
    same_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    diff = np.where(both_nan | same_inf, 0.0, diff)
    bad_nonfinite = ~(both_nan | same_inf) & ~(np.isfinite(a) & np.isfinite(b))
    diff = np.where(bad_nonfinite, np.inf, diff)
    nan_mismatch = int(np.count_nonzero(nan_a ^ nan_b))
    excess = diff - tol.rtol * np.abs(np.where(np.isfinite(b), b, 0.0))
    max_excess = float(excess.max())
    ok = max_excess <= tol.atol
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


def max_abs(old: np.ndarray, new: np.ndarray) -> float:
    """max |new - old| in float64 (inf for a shape mismatch or a non-finite difference)."""
    if np.shape(old) != np.shape(new):
        return float("inf")
    if np.size(old) == 0:
        return 0.0
    d = np.asarray(new, np.float64) - old
    np.abs(d, out=d)
    if np.isfinite(d).all():
        return float(d.max())
    d = np.where(np.isnan(np.asarray(old, np.float64)) & np.isnan(np.asarray(new, np.float64)), 0.0, d)
    return float(np.nanmax(np.where(np.isnan(d), np.inf, d)))


def within(old: np.ndarray, new: np.ndarray, tol: Tolerance) -> bool:
    """True when every element agrees under `tol`."""
    return compare_arrays(old, new, tol).passed
