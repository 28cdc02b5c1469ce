"""Provides the kernels for advanced activation layers (LeakyReLU, PReLU, ELU, ThresholdedReLU, ReLU, Softmax, Keras 1
ParametricSoftplus/SReLU).

Sources: ../shared/docs/keras-formats.md §4.7 and §4.9; K@1.2.2 keras/layers/advanced_activations.py for
ParametricSoftplus and SReLU. Per-feature weights have shape input_shape[1:] (1 on shared axes) and broadcast
against the batch directly.
"""

from __future__ import annotations

import numpy as np

from kstep.engine import activations
from kstep.engine.base import Call, Kernel, Out


def _c(value, x: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=x.dtype)


def _param(call: Call, *keys, default):
    """The first of `keys` present (not None) in params, else `default`."""
    for key in keys:
        if call.params.get(key) is not None:
            return call.params[key]
    return default


def leaky_relu(call: Call) -> Out:
    """x if x >= 0 else alpha * x (alpha default 0.3; Keras 3 spelling negative_slope read too)."""
    alpha = float(_param(call, "alpha", "negative_slope", default=0.3))
    return Out([activations.leaky_relu(call.x, alpha=alpha)])


def prelu(call: Call) -> Out:
    """relu(x) - alpha * relu(-x) with alpha (input_shape[1:], 1 on shared axes)."""
    x = call.x
    alpha = call.weights[0]
    try:
        y = np.where(x >= 0, x, alpha * x)
    except ValueError:
        raise call.unsupported(f"alpha {alpha.shape} does not broadcast against input {x.shape}") from None
    return Out([y.astype(x.dtype, copy=False)])


def elu(call: Call) -> Out:
    """x if x > 0 else alpha * (exp(x) - 1) (alpha default 1.0)."""
    return Out([activations.elu(call.x, alpha=float(_param(call, "alpha", default=1.0)))])


def thresholded_relu(call: Call) -> Out:
    """x * (x > theta) (theta default 1.0; -inf * 0 is NaN, as in Keras)."""
    x = call.x
    theta = _c(float(_param(call, "theta", default=1.0)), x)
    with np.errstate(invalid="ignore"):
        return Out([x * (x > theta).astype(x.dtype)])


def relu(call: Call) -> Out:
    """ReLU(max_value, negative_slope, threshold), Keras 2 / tf.keras / Keras 3 formula."""
    max_value = call.params.get("max_value")
    return Out([activations.relu(
        call.x,
        negative_slope=float(_param(call, "negative_slope", "alpha", default=0.0)),
        max_value=None if max_value is None else float(max_value),
        threshold=float(_param(call, "threshold", default=0.0)),
    )])


def softmax(call: Call) -> Out:
    """Softmax(axis); a Keras 2 2-D input always uses the last axis; tf.keras/Keras 3 add -1e9 where mask is False."""
    x = call.x
    axis = _param(call, "axis", default=-1)
    if call.sem.softmax_layer_2d_last_axis and x.ndim == 2:
        axis = -1
    mask = call.mask
    if mask is not None and call.sem.softmax_layer_masks and np.shape(mask) == x.shape:
        x = x + (_c(1, x) - np.asarray(mask).astype(x.dtype)) * _c(-1e9, x)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)
    return Out([activations.softmax(x, call.sem, axis=axis)])


def parametric_softplus(call: Call) -> Out:
    """Keras 1 ParametricSoftplus: softplus(betas * x) * alphas, weights [alphas, betas]."""
    x = call.x
    alphas, betas = call.weights[0], call.weights[1]
    return Out([activations.softplus(betas * x) * alphas])


def srelu(call: Call) -> Out:
    """Keras 1 SReLU with weights [t_left, a_left, t_right, a_right]; t_right is stored as an offset:

    t_r = t_left + |t_right|; y = t_left + min(leaky(x - t_left, a_left), t_r - t_left) + a_right * relu(x - t_r).
    """
    x = call.x
    t_left, a_left, t_right, a_right = call.weights[:4]
    t_r = t_left + np.abs(t_right)
    z = x - t_left
    centre = np.minimum(np.where(z >= 0, z, a_left * z), t_r - t_left)
    return Out([(t_left + centre + np.maximum(x - t_r, _c(0, x)) * a_right).astype(x.dtype, copy=False)])


KERNELS: dict[str, Kernel] = {
    "LeakyReLU": leaky_relu,
    "PReLU": prelu,
    "ELU": elu,
    "ThresholdedReLU": thresholded_relu,
    "ReLU": relu,
    "Softmax": softmax,
    "ParametricSoftplus": parametric_softplus,
    "SReLU": srelu,
}
