"""Provides the kernels for UpSampling, ZeroPadding and Cropping 1D/2D/3D.

All work in channels-last layout and return to the layer's data_format. UpSampling2D 'bilinear' samples the way the
writer's backend did (`sem.bilinear_half_pixel`): half-pixel centres (tf.keras 2's tf.image.resize, Keras 3, Theano's
bilinear_upsampling) or TF 1's legacy `resize_bilinear` (src = dst / factor) for standalone Keras 2 on TensorFlow.
"""

from __future__ import annotations

import numpy as np

from kstep.engine import _windows as W
from kstep.engine.base import Call, Kernel, Out


def _fmt(call: Call) -> str:
    return call.params.get("data_format") or "channels_last"


def _size(call: Call, nd: int) -> tuple[int, ...]:
    size = call.params["size"]
    return tuple(int(v) for v in size) if isinstance(size, (list, tuple)) else (int(size),) * nd


def _linear_axis(x: np.ndarray, axis: int, factor: int, half_pixel: bool) -> np.ndarray:
    """Linear resampling of `axis` to factor * its length, TF's formula: lo + (hi - lo) * frac, edges clamped."""
    n = x.shape[axis]
    dst = np.arange(n * factor, dtype=np.float32)
    scale = np.float32(n) / np.float32(n * factor)
    src = (dst + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel else dst * scale
    floor = np.floor(src)
    lo = np.maximum(floor.astype(np.int64), 0)
    hi = np.minimum(np.ceil(src).astype(np.int64) if half_pixel else floor.astype(np.int64) + 1, n - 1)
    frac = (src - floor).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = -1
    a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
    return a + (b - a) * frac.reshape(shape)


def upsampling(call: Call) -> Out:
    """UpSampling1D/2D/3D: each spatial axis i repeated size[i] times ('nearest'); 2D may be 'bilinear'."""
    nd = call.rank
    fmt = _fmt(call)
    size = _size(call, nd)
    y = W.channels_last(call.x, fmt)
    interpolation = call.params.get("interpolation") or "nearest"
    if interpolation == "nearest":
        for i, f in enumerate(size):
            if f != 1:
                y = np.repeat(y, f, axis=1 + i)
    elif interpolation == "bilinear" and nd == 2:
        half = call.sem.bilinear_half_pixel
        for i, f in enumerate(size):
            y = _linear_axis(y, 1 + i, f, half)
    else:
        raise call.unsupported(f"interpolation {interpolation!r}")
    return Out([W.restore_format(y, fmt)])


def _pairs(value, nd: int) -> list[tuple[int, int]]:
    """Canonical ((before, after), ...) per spatial axis; tolerates a bare int or (a, b) per axis."""
    if not isinstance(value, (list, tuple)):
        return [(int(value), int(value))] * nd
    out = []
    for v in value:
        out.append((int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v)))
    if nd == 1 and len(out) == 2 and not any(isinstance(v, (tuple, list)) for v in value):
        return [(out[0][0], out[1][0])]
    return out


def zero_padding(call: Call) -> Out:
    """ZeroPadding1D/2D/3D: `padding` ((before, after) per spatial axis) zeros added around the spatial axes."""
    nd = call.rank
    fmt = _fmt(call)
    x = W.channels_last(call.x, fmt)
    pads = _pairs(call.params["padding"], nd)
    y = np.pad(x, [(0, 0), *pads, (0, 0)], mode="constant")
    return Out([W.restore_format(y, fmt)])


def cropping(call: Call) -> Out:
    """Cropping1D/2D/3D: `cropping` ((before, after) per spatial axis) cells removed; a view."""
    nd = call.rank
    fmt = _fmt(call)
    x = W.channels_last(call.x, fmt)
    crops = _pairs(call.params["cropping"], nd)
    index = tuple(slice(b, x.shape[1 + i] - a) for i, (b, a) in enumerate(crops))
    return Out([W.restore_format(x[(slice(None),) + index], fmt)])


KERNELS: dict[str, Kernel] = {
    "UpSampling1D": upsampling,
    "UpSampling2D": upsampling,
    "UpSampling3D": upsampling,
    "ZeroPadding1D": zero_padding,
    "ZeroPadding2D": zero_padding,
    "ZeroPadding3D": zero_padding,
    "Cropping1D": cropping,
    "Cropping2D": cropping,
    "Cropping3D": cropping,
}
