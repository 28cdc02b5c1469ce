"""Provides the shared window arithmetic of convolution and pooling: padding rules and sliding-window views.

Every kernel in conv.py and pooling.py computes in channels-last layout `(batch, *spatial, channels)`; these helpers
move the channel axis, decide how much each spatial axis is padded (TF or Theano rules, keras-formats.md §4.2), and
expose the windows of a padded array as a strided view `(batch, *out, *k, channels)` without copying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided


@dataclass(frozen=True)
class AxisPad:
    """How one spatial axis is windowed: `before`/`after` cells padded (after may be negative: tail unused), `out`
    windows. Window j covers padded cells [j*s, j*s + k_eff) i.e. input cells from j*s - before."""

    before: int
    after: int
    out: int


def channels_last(x: np.ndarray, data_format: str) -> np.ndarray:
    """`x` as (batch, *spatial, channels): a view, moving axis 1 to the end for channels_first."""
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def restore_format(y: np.ndarray, data_format: str) -> np.ndarray:
    """Inverse of `channels_last`: (batch, *spatial, channels) back to the layer's data_format (a view)."""
    return np.moveaxis(y, -1, 1) if data_format == "channels_first" else y


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _fit(n: int, k_eff: int, s: int, before: int, out: int) -> AxisPad:
    """The `after` padding that makes `out` windows of extent k_eff at stride s fit after `before` padding."""
    out = max(out, 0)
    after = (out - 1) * s + k_eff - n - before if out > 0 else 0
    return AxisPad(before, after, out)


def conv_axis(n: int, k: int, s: int, d: int, padding: str, theano: bool) -> AxisPad:
    """Padding of one convolution axis (n input cells, kernel k, stride s, dilation d).

    valid: none. same (TF): out = ceil(n/s), before = floor(total/2). same (Theano 'half'): k_eff//2 before, output
    cropped to ceil(n/s). causal: d*(k-1) before. full: k_eff-1 on both sides.
    """
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return _fit(n, k_eff, s, 0, (n - k_eff) // s + 1)
    if padding == "same":
        out = ceil_div(n, s)
        if theano:
            return _fit(n, k_eff, s, k_eff // 2, out)
        total = max((out - 1) * s + k_eff - n, 0)
        return _fit(n, k_eff, s, total // 2, out)
    if padding == "causal":
        return _fit(n, k_eff, s, k_eff - 1, (n - 1) // s + 1)
    if padding == "full":
        return _fit(n, k_eff, s, k_eff - 1, (n + k_eff - 2) // s + 1)
    raise ValueError(f"unknown padding {padding!r}")


def theano_pool_pad(k: int, rank: int) -> int:
    """Theano 'same' pooling pad on both sides: k-2 for odd k > 2 (any odd k in pool3d), else k-1 (§4.2)."""
    odd = k % 2 == 1 and (k > 2 or rank == 3)
    return max(k - 2 if odd else k - 1, 0)


def pool_axis(n: int, k: int, s: int, padding: str, theano: bool, rank: int) -> AxisPad:
    """Padding of one pooling axis: valid, same (TF: floor(total/2) before), same (Theano: p both sides, ignore
    border, first ceil(n/s) outputs kept)."""
    if padding == "valid":
        return _fit(n, k, s, 0, (n - k) // s + 1)
    if padding != "same":
        raise ValueError(f"unknown padding {padding!r}")
    out = ceil_div(n, s)
    if theano:
        p = theano_pool_pad(k, rank)
        return _fit(n, k, s, p, min(out, (n + 2 * p - k) // s + 1))
    total = max((out - 1) * s + k - n, 0)
    return _fit(n, k, s, total // 2, out)


def pad_spatial(x: np.ndarray, pads: list[AxisPad], value: float = 0.0) -> np.ndarray:
    """Pad (or trim, for negative `after`) the spatial axes of channels-last `x`; no copy when nothing changes."""
    if any(p.after < 0 for p in pads):
        x = x[(slice(None),) + tuple(slice(0, x.shape[1 + i] + min(p.after, 0)) for i, p in enumerate(pads))]
    widths = [(0, 0)] + [(p.before, max(p.after, 0)) for p in pads] + [(0, 0)]
    if all(b == 0 and a == 0 for b, a in widths):
        return x
    return np.pad(x, widths, mode="constant", constant_values=np.asarray(value, x.dtype))


def windows(xp: np.ndarray, k, s, d, out) -> np.ndarray:
    """Read-only strided view (batch, *out, *k, channels) of padded channels-last `xp`: window j, tap i of an axis
    reads padded cell j*s + i*d."""
    nd = len(k)
    sp = xp.strides[1:1 + nd]
    shape = (xp.shape[0], *out, *k, xp.shape[-1])
    strides = (xp.strides[0], *(st * si for st, si in zip(sp, s)), *(st * di for st, di in zip(sp, d)), xp.strides[-1])
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def tap(win: np.ndarray, nd: int, index: tuple[int, ...]) -> np.ndarray:
    """One kernel tap of a window view: (batch, *out, channels), a strided view."""
    return win[(slice(None),) * (1 + nd) + index]
