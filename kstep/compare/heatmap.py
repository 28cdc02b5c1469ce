"""Provides `heatmaps` / `first_heatmaps`: the first divergent layer's output on one sample as three small 2-D maps
(OLD, NEW, |Δ|) of its worst channel, the numbers the HTML report's heatmaps draw (kstep.report.heatmap only paints).

The arrays are the ones the comparison already holds (the first chunk's kept runs, or the one-sample runs its
diagnosis made on the first divergence's sample); nothing is run again for the maps, and without such runs there
are none. Shapes (batch axis first; the channel axis from OLD's layout tag, NEW mapped onto OLD's layout):

- image (N, H, W, C) or (N, C, H, W): the worst channel's H x W plane;
- volume (N, D, H, W, C) and higher: the worst channel's last two spatial axes, at the worst element's index on
  the axes before them (`fixed`);
- sequence (N, T, C): the worst channel along T, one row;
- vector (N, F) (a Dense output): the F units as one row, no channel (a vector has no channel to pick);
- (N,): one cell.

The worst channel is the one holding the largest |Δ| on that sample (NaN or inf against a number counts as inf).
Each axis longer than MAX_CELLS is cut into blocks of ceil(length / MAX_CELLS): OLD and NEW show each block's mean,
|Δ| each block's largest value (one differing element still shows); `step` says the block size (1, 1 = none).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kstep.analysis import FirstDivergence, Heatmaps, Reason, Row
from kstep.compare.align import Item
from kstep.compare.focus import FocusRuns, activation_arrays
from kstep.compare.metrics import nonfinite_pattern
from kstep.compare.trace import Trace

MAX_CELLS = 64
"""At most this many cells along each axis of a map (a 64 x 64 map: 4096 cells per picture)."""


def _blocks(a: np.ndarray, fy: int, fx: int, how: str) -> np.ndarray:
    """Reduce a 2-D array over fy x fx blocks (the last ones may be partial): 'mean' or 'max'; NaN propagates."""
    h, w = a.shape
    pad = np.full((-(-h // fy) * fy, -(-w // fx) * fx), np.nan)
    pad[:h, :w] = a
    grid = pad.reshape(pad.shape[0] // fy, fy, pad.shape[1] // fx, fx).transpose(0, 2, 1, 3)
    blocks = grid.reshape(grid.shape[0], grid.shape[1], -1)
    filled = np.zeros(pad.shape, bool)
    filled[:h, :w] = True
    inside = filled.reshape(blocks.shape[0], fy, blocks.shape[1], fx).transpose(0, 2, 1, 3).reshape(blocks.shape)
    real = np.where(inside, blocks, 0.0)
    count = inside.sum(axis=-1)
    nan = (np.isnan(blocks) & inside).any(axis=-1)
    with np.errstate(invalid="ignore", over="ignore"):
        out = real.sum(axis=-1) / count if how == "mean" else np.where(inside, blocks, -np.inf).max(axis=-1)
    return np.where(nan, np.nan, out)


def _cells(a: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in a)


def _range(*maps: np.ndarray) -> tuple[float, float]:
    """(min, max) over the finite values (0, 0 when there is none)."""
    finite = np.concatenate([m[np.isfinite(m)].ravel() for m in maps])
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def heatmaps(old: np.ndarray, new: np.ndarray, axis: int, row: int, layer: str, sample: int) -> Heatmaps | None:
    """The maps of one sample's output: old/new (1, ...) with the batch axis (NEW in OLD's layout), `axis` the
    channel axis; `sample`: its absolute index. None when the shapes differ or there is nothing to draw."""
    if old.shape != new.shape or old.size == 0 or old.ndim < 1:
        return None
    o, n = old[0].astype(np.float64), new[0].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(n - o)
        same, bad = nonfinite_pattern(o, n)
        d = np.where(same, 0.0, np.where(bad, np.inf, d))
    channel: int | None = None
    fixed: tuple[int, ...] = ()
    if o.ndim >= 2:  # a channel axis to pick from
        ax = axis % old.ndim - 1  # within one sample
        o, n, d = (np.moveaxis(x, ax, -1) for x in (o, n, d))
        channel = int(np.argmax(d.reshape(-1, d.shape[-1]).max(axis=0)))
        o, n, d = o[..., channel], n[..., channel], d[..., channel]
        if d.ndim > 2:  # a volume: the plane through the worst element
            lead = np.unravel_index(int(np.argmax(d)), d.shape)[:d.ndim - 2]
            fixed = tuple(int(i) for i in lead)
            o, n, d = o[fixed], n[fixed], d[fixed]
    o, n, d = (x.reshape(1, -1) if x.ndim < 2 else x for x in (o, n, d))
    h, w = d.shape
    fy, fx = math.ceil(h / MAX_CELLS), math.ceil(w / MAX_CELLS)
    mo, mn, md = _blocks(o, fy, fx, "mean"), _blocks(n, fy, fx, "mean"), _blocks(d, fy, fx, "max")
    lo, hi = _range(mo, mn)
    return Heatmaps(row=row, layer=layer, sample=sample, channel=channel, fixed=fixed, shape=(h, w), step=(fy, fx),
                    old=_cells(mo), new=_cells(mn), delta=_cells(md), lo=lo, hi=hi, delta_max=_range(md)[1])


def first_heatmaps(first: FirstDivergence | None, rows: Sequence[Row], pairs: Sequence[tuple[Item | None, Item | None]],
                   kept: tuple[Trace | None, Trace | None], kept_from: int, focus: FocusRuns) -> Heatmaps | None:
    """The first divergence's maps on its sample, from `kept` (the first chunk's runs, whose first sample has the
    absolute index `kept_from`; None once dropped) when they hold it, else from the one-sample runs `focus` holds
    (those of the diagnosis). None when the reason has no output to draw (unsupported, architecture, shape) or no
    run in memory holds the sample (nothing is run for the maps)."""
    if first is None or first.sample is None or first.reason in (Reason.UNSUPPORTED, Reason.ARCHITECTURE,
                                                                 Reason.SHAPE):
        return None
    old, new = kept
    cached = focus.cached(first.sample)
    for (a_run, b_run), pos in (((old, new), first.sample - kept_from), (cached or (None, None), 0)):
        arrays = None if a_run is None or b_run is None else activation_arrays(a_run, b_run, *pairs[first.row])
        if arrays is not None and 0 <= pos < min(arrays[0].shape[0], arrays[1].shape[0]):
            a, b, axis = arrays
            return heatmaps(a[pos:pos + 1], b[pos:pos + 1], axis, first.row, rows[first.row].name, first.sample)
    return None
