"""Provides the kernels for max/average pooling 1D/2D/3D and their global forms.

Windowed pools compute in channels-last layout on a strided window view, one vectorised step per window tap.
'same' follows the file's backend (keras-formats.md §4.2): TF pads floor(total/2) before; Theano pads p = k-2 (odd
k > 2) or k-1 on both sides and keeps the first ceil(n/s) windows. Padded cells never take part in a max, and count
in an average only for Keras 2.0.4-2.1.4 on Theano (`sem.avg_pool_same_counts_padding`).
"""

from __future__ import annotations

import numpy as np

from kstep.engine import _windows as W
from kstep.engine.base import Call, Kernel, Out, mean_or_nan


def _pads(call: Call, x: np.ndarray, nd: int) -> list[W.AxisPad]:
    p, s = call.params, _strides(call)
    return [W.pool_axis(x.shape[1 + i], p["pool_size"][i], s[i], p["padding"], call.sem.theano, nd)
            for i in range(nd)]


def _strides(call: Call) -> tuple[int, ...]:
    p = call.params
    return tuple(p.get("strides") or p["pool_size"])


def _axis_counts(n: int, k: int, s: int, pad: W.AxisPad) -> np.ndarray:
    """How many real (unpadded) input cells each of the `pad.out` windows of one axis covers."""
    start = np.arange(pad.out) * s - pad.before
    return np.minimum(start + k, n) - np.maximum(start, 0)


def max_pool(call: Call) -> Out:
    """MaxPooling1D/2D/3D: (batch, *sp, C) or (batch, C, *sp) -> pooled, same layout; padded cells never win."""
    nd = call.rank
    fmt = call.params["data_format"]
    x = W.channels_last(call.x, fmt)
    k, s = call.params["pool_size"], _strides(call)
    pads = _pads(call, x, nd)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = W.windows(W.pad_spatial(x, pads, fill), k, s, (1,) * nd, [a.out for a in pads])
    taps = (W.tap(win, nd, index) for index in np.ndindex(*k))
    out = next(taps).copy()
    for t in taps:
        np.maximum(out, t, out=out)
    return Out([W.restore_format(out, fmt)])


def avg_pool(call: Call) -> Out:
    """AveragePooling1D/2D/3D: mean over each window's real cells (or over k cells when the file counted padding)."""
    nd = call.rank
    fmt = call.params["data_format"]
    x = W.channels_last(call.x, fmt)
    k, s = call.params["pool_size"], _strides(call)
    pads = _pads(call, x, nd)
    win = W.windows(W.pad_spatial(x, pads, 0), k, s, (1,) * nd, [a.out for a in pads])
    taps = (W.tap(win, nd, index) for index in np.ndindex(*k))
    acc = next(taps).copy()
    for t in taps:
        np.add(acc, t, out=acc)
    if call.params["padding"] == "same" and call.sem.avg_pool_same_counts_padding:
        count = np.asarray(np.prod(k), x.dtype)
    else:
        count = np.ones((), dtype=np.int64)
        for i in range(nd):
            shape = [1] * (nd + 2)
            shape[1 + i] = pads[i].out
            count = count * _axis_counts(x.shape[1 + i], k[i], s[i], pads[i]).reshape(shape)
        count = count.astype(x.dtype)
    return Out([W.restore_format(acc / count, fmt)])


def _global_axes(call: Call, nd: int) -> tuple[int, ...]:
    first = call.params.get("data_format") == "channels_first"
    return tuple(range(2, 2 + nd)) if first else tuple(range(1, 1 + nd))


def global_max(call: Call) -> Out:
    """GlobalMaxPooling1D/2D/3D: max over the spatial axes -> (batch, C), or kept as size-1 axes with keepdims."""
    axes = _global_axes(call, call.rank)
    return Out([np.max(call.x, axis=axes, keepdims=bool(call.params.get("keepdims")))])


def global_avg(call: Call) -> Out:
    """GlobalAveragePooling1D/2D/3D: mean over the spatial axes. 1-D with a mask (batch, time): the mean of the
    unmasked steps only, as tf.keras does; the mask is consumed."""
    nd = call.rank
    axes = _global_axes(call, nd)
    keep = bool(call.params.get("keepdims"))
    x = call.x
    mask = call.mask
    if nd == 1 and mask is not None:
        m = mask.astype(x.dtype)
        m = m[:, None, :] if axes == (2,) else m[:, :, None]
        total = np.sum(x * m, axis=axes, keepdims=keep)
        return Out([total / np.sum(m, axis=axes, keepdims=keep)], masks=[None])
    return Out([mean_or_nan(x, axes, keep)], masks=[None] if mask is not None else None)


KERNELS: dict[str, Kernel] = {
    "MaxPooling1D": max_pool,
    "MaxPooling2D": max_pool,
    "MaxPooling3D": max_pool,
    "AveragePooling1D": avg_pool,
    "AveragePooling2D": avg_pool,
    "AveragePooling3D": avg_pool,
    "GlobalMaxPooling1D": global_max,
    "GlobalMaxPooling2D": global_max,
    "GlobalMaxPooling3D": global_max,
    "GlobalAveragePooling1D": global_avg,
    "GlobalAveragePooling2D": global_avg,
    "GlobalAveragePooling3D": global_avg,
}
