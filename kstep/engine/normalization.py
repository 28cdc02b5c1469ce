"""Provides the kernels for BatchNormalization (incl. Keras 1 modes), LayerNormalization, UnitNormalization,
GroupNormalization.

Sources: ../shared/docs/keras-formats.md §4.3 (BatchNormalization per version, Keras 1 modes 0/1/2); Keras 3
layer_normalization.py / group_normalization.py / unit_normalization.py and tf.keras 2 for the other three.
Stored statistics are used exactly as stored (a Theano-trained moving variance already holds +eps; not corrected).
"""

from __future__ import annotations

import numpy as np

from kstep.engine.base import Call, Kernel, Out, mean_or_nan
from kstep.semantics import L2Norm


def _axes(axis, ndim: int) -> list[int]:
    """int or list of ints (negative allowed) -> list of non-negative axes, in the given order."""
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    return [int(a) % ndim for a in axes]


def _broadcast(w: np.ndarray, axes: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """A per-feature weight of shape [shape[a] for a in axes] reshaped to broadcast against `shape`."""
    w = np.asarray(w).reshape([shape[a] for a in axes])
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    w = np.transpose(w, order)
    return w.reshape([shape[d] if d in axes else 1 for d in range(len(shape))])


def _bn_weights(call: Call) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]:
    """(gamma or None, beta or None, moving_mean, moving_variance) from [gamma], [beta], mean, var."""
    ws = list(call.weights)
    gamma = ws.pop(0) if call.params.get("scale", True) else None
    beta = ws.pop(0) if call.params.get("center", True) else None
    if len(ws) < 2:
        raise call.unsupported(f"expected moving mean and variance, got {len(call.weights)} weights in all")
    return gamma, beta, ws[0], ws[1]


def batch_normalization(call: Call) -> Out:
    """Inference BN, any rank: (x - mean) / sqrt(var + eps) * gamma + beta over params['axis'] (int or list).

    Keras 1 mode 1: per sample over the last axis, (x - m) / (sqrt(var + eps) + eps) * gamma + beta.
    Keras 1 mode 2: feature-wise with this batch's statistics (biased variance), also at inference.
    """
    x = call.x
    gamma, beta, mean, var = _bn_weights(call)
    eps = np.asarray(call.params.get("epsilon", 1e-3), dtype=x.dtype)
    mode = int(call.params.get("mode", 0) or 0)
    if mode == 1:
        m = mean_or_nan(x, -1)
        std = np.sqrt(mean_or_nan(np.square(x - m), -1) + eps)
        y = (x - m) / (std + eps)
        if gamma is not None:
            y = y * gamma
        return Out([y + beta if beta is not None else y])
    axes = _axes(call.params.get("axis", -1), x.ndim)
    gamma, beta = (None if w is None else _broadcast(w, axes, x.shape) for w in (gamma, beta))
    if mode == 2:
        reduce = tuple(d for d in range(x.ndim) if d not in axes)
        mean = mean_or_nan(x, reduce)
        var = mean_or_nan(np.square(x - mean), reduce)
    elif mode == 0:
        mean, var = _broadcast(mean, axes, x.shape), _broadcast(var, axes, x.shape)
    else:
        raise call.unsupported(f"BatchNormalization mode {mode}")
    inv = np.asarray(1, x.dtype) / np.sqrt(var + eps)
    if gamma is not None:
        inv = inv * gamma
    y = np.subtract(x, mean, dtype=x.dtype)  # one fresh array, then in place: same rounding, fewer passes
    y *= inv
    if beta is not None:
        y += beta
    return Out([y])


def layer_normalization(call: Call) -> Out:
    """(x - mean) / sqrt(var + eps) * gamma + beta, statistics over params['axis'] (list) of each sample.

    Keras 3 rms_scaling=True: x / sqrt(var + eps) * gamma (Keras 3 scales by the variance, not the RMS).
    """
    x = call.x
    axes = _axes(call.params.get("axis", -1), x.ndim)
    ws = list(call.weights)
    gamma = ws.pop(0) if call.params.get("scale", True) and ws else None
    beta = ws.pop(0) if call.params.get("center", True) and ws else None
    gamma, beta = (None if w is None else _broadcast(w, axes, x.shape) for w in (gamma, beta))
    eps = np.asarray(call.params.get("epsilon", 1e-3), dtype=x.dtype)
    red = tuple(sorted(axes))
    mean = mean_or_nan(x, red)
    var = mean_or_nan(np.square(x - mean), red)
    inv = np.asarray(1, x.dtype) / np.sqrt(var + eps)
    if call.params.get("rms_scaling"):
        return Out([x * inv * gamma if gamma is not None else x * inv])
    if gamma is not None:
        inv = inv * gamma
    y = (x - mean) * inv
    return Out([y + beta if beta is not None else y])


def unit_normalization(call: Call) -> Out:
    """x / sqrt(max(sum(x^2 over axis), 1e-12)); x * min(rsqrt(sum(x^2)), 1e12) where `sem.l2_normalize` is Keras 3's
    CAPPED_RSQRT (tf.keras 2's rsqrt form agrees with the division up to rounding)."""
    x = call.x
    axes = tuple(sorted(_axes(call.params.get("axis", -1), x.ndim)))
    ss = np.sum(np.square(x), axis=axes, keepdims=True)
    if call.sem.l2_normalize is L2Norm.CAPPED_RSQRT:
        with np.errstate(divide="ignore"):  # a zero vector: min(inf, 1e12) * 0 = 0
            inv = np.minimum(np.asarray(1, x.dtype) / np.sqrt(ss), np.asarray(1e12, x.dtype))
        return Out([x * inv])
    return Out([x / np.sqrt(np.maximum(ss, np.asarray(1e-12, x.dtype)))])


def group_normalization(call: Call) -> Out:
    """Split the channel axis into `groups`; normalise each sample's group over it and the other non-batch axes."""
    x = call.x
    axis = int(call.params.get("axis", -1)) % x.ndim
    groups = int(call.params.get("groups", 32))
    channels = x.shape[axis]
    if groups == -1:
        groups = channels
    if channels % groups:
        raise call.unsupported(f"{channels} channels not divisible into {groups} groups")
    shape = x.shape[:axis] + (groups, channels // groups) + x.shape[axis + 1:]
    xg = x.reshape(shape)
    red = tuple(d for d in range(1, len(shape)) if d != axis)
    mean = mean_or_nan(xg, red)
    var = mean_or_nan(np.square(xg - mean), red)
    eps = np.asarray(call.params.get("epsilon", 1e-3), dtype=x.dtype)
    inv = np.asarray(1, x.dtype) / np.sqrt(var + eps)
    ws = list(call.weights)
    pshape = [1] * len(shape)
    pshape[axis], pshape[axis + 1] = groups, channels // groups
    if call.params.get("scale", True) and ws:
        inv = inv * ws.pop(0).reshape(pshape)
    y = (xg - mean) * inv
    if call.params.get("center", True) and ws:
        y = y + ws.pop(0).reshape(pshape)
    return Out([y.reshape(x.shape)])


KERNELS: dict[str, Kernel] = {
    "BatchNormalization": batch_normalization,
    "LayerNormalization": layer_normalization,
    "UnitNormalization": unit_normalization,
    "GroupNormalization": group_normalization,
}
