"""Provides every Keras activation by canonical name, as numpy functions that keep the input's dtype.

`apply(name, x, sem, params)` is what kernels call for a fused activation and what the Activation layer runs.
Generation differences (hard_sigmoid's formula, Keras 1's 2-D/3-D-only softmax) come from `sem`.
"""

from __future__ import annotations

import numpy as np

from kstep.semantics import Semantics


def _c(value: float, x: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=x.dtype)


def linear(x, sem):
    return x


def relu(x, sem):
    return np.maximum(x, _c(0, x))


def relu6(x, sem):
    return np.minimum(np.maximum(x, _c(0, x)), _c(6, x))


def sigmoid(x, sem):
    # split by sign so exp never overflows; same value as 1 / (1 + exp(-x))
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, _c(1, x) / (_c(1, x) + e), e / (_c(1, x) + e)).astype(x.dtype, copy=False)


def hard_sigmoid(x, sem):
    if sem.hard_sigmoid == "x/6+0.5":
        y = x / _c(6, x) + _c(0.5, x)
    else:
        y = _c(0.2, x) * x + _c(0.5, x)
    return np.clip(y, _c(0, x), _c(1, x))


def tanh(x, sem):
    return np.tanh(x)


def softmax(x, sem, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def softplus(x, sem):
    return (np.maximum(x, _c(0, x)) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def softsign(x, sem):
    return x / (_c(1, x) + np.abs(x))


def elu(x, sem, alpha=1.0):
    return np.where(x > 0, x, _c(alpha, x) * np.expm1(np.minimum(x, _c(0, x)))).astype(x.dtype, copy=False)


def selu(x, sem):
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    return (_c(scale, x) * elu(x, sem, alpha)).astype(x.dtype, copy=False)


def exponential(x, sem):
    return np.exp(x)


def swish(x, sem):
    return x * sigmoid(x, sem)


ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "softplus": softplus,
    "softsign": softsign,
    "elu": elu,
    "selu": selu,
    "exponential": exponential,
    "swish": swish,
    "silu": swish,
}


def apply(name: str, x: np.ndarray, sem: Semantics, params: dict | None = None) -> np.ndarray:
    """Run activation `name` on `x` (any shape, dtype kept). Raises KeyError for an unknown name."""
    return ACTIVATIONS[name](x, sem)
