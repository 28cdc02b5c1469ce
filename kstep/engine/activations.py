"""Provides every Keras activation by canonical name, as numpy functions that keep the input's dtype.

`apply(name, x, sem, params)` is what kernels call for a fused activation and what the Activation layer runs.
Generation differences come from `sem` (../shared/docs/keras-formats.md §4.7, §4.10):
- hard_sigmoid is clip(0.2x+0.5, 0, 1) up to tf.keras 2 and relu6(x+3)/6 in Keras 3 (`sem.hard_sigmoid`);
- softmax: Keras 1 accepts only 2-D/3-D input (last axis); every later generation any rank (last axis)
  (`sem.softmax_2d_3d_only`);
- leaky_relu as an activation *function* has slope 0.2 (tf.nn.leaky_relu, Keras 3), unlike the layer's 0.3.
The parametrised forms (relu with threshold/max_value, elu with alpha, softmax on an axis) are module functions the
advanced-activation layers call directly. Internally some functions compute in float64 (erf) and cast back.
"""

from __future__ import annotations

import numpy as np

from kstep.errors import UnsupportedLayer
from kstep.semantics import HardSigmoid, Semantics


def _c(value, x: np.ndarray) -> np.ndarray:
    """`value` as an array of x's dtype (a scalar or anything broadcastable)."""
    return np.asarray(value, dtype=x.dtype)


def _float(x) -> np.ndarray:
    """x as a floating array (integers become float32, like Keras's floatx)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


# ---------------------------------------------------------------------------------------------------- error function

def _erf_series(z: np.ndarray) -> np.ndarray:
    """erf(z) for |z| <= 2 by its Maclaurin series (float64; absolute error < 1e-15, relative exact near 0)."""
    z2 = z * z
    term = z.copy()
    total = z.copy()
    for k in range(1, 48):
        term = term * (-z2) / k
        total = total + term / (2 * k + 1)
    return total * (2.0 / np.sqrt(np.pi))


def _erfc_cf(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z >= 2 by its continued fraction (float64; relative error < 1e-14)."""
    f = z.copy()
    for k in range(60, 0, -1):
        f = z + (k / 2.0) / f
    return np.exp(-z * z) / (np.sqrt(np.pi) * f)


def erfc(x) -> np.ndarray:
    """Complementary error function in float64, relative error < 1e-11 everywhere (NaN and +-inf handled)."""
    z = np.asarray(x, dtype=np.float64)
    a = np.abs(z)
    small = a <= 2.0
    out = np.empty_like(z)
    out[small] = 1.0 - _erf_series(z[small])
    big = ~small & ~np.isnan(z)
    tail = _erfc_cf(np.where(np.isinf(a[big]), 30.0, a[big]))
    out[big] = np.where(z[big] > 0, tail, 2.0 - tail)
    out[np.isnan(z)] = np.nan
    return out


def erf(x) -> np.ndarray:
    """Error function in float64, absolute error < 1e-14 and relative error < 1e-14 near 0."""
    z = np.asarray(x, dtype=np.float64)
    small = np.abs(z) <= 2.0
    out = np.empty_like(z)
    out[small] = _erf_series(z[small])
    out[~small] = np.sign(z[~small]) * (1.0 - erfc(np.abs(z[~small])))
    return out


# ------------------------------------------------------------------------------------------------------ activations

def linear(x, sem=None):
    return x


def relu(x, sem=None, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 2 / tf.keras / Keras 3 `relu(x, alpha|negative_slope, max_value, threshold)`, the same formula in all.

    y = x above threshold (clipped to [0, max_value]), 0 up to it, then minus negative_slope * relu(threshold - x).
    """
    x = _float(x)
    if threshold:
        with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in Keras
            y = x * (x > _c(threshold, x)).astype(x.dtype)
    else:
        y = np.maximum(x, _c(0, x))
    if max_value is not None:
        y = np.clip(y, _c(0, x), _c(max_value, x))
    if negative_slope:
        y = y - _c(negative_slope, x) * np.maximum(_c(threshold, x) - x, _c(0, x))
    return y


def leaky_relu(x, sem=None, alpha=0.2):
    """x if x >= 0 else alpha * x (the activation function's default slope is 0.2; the layer's is 0.3)."""
    x = _float(x)
    return np.where(x >= 0, x, _c(alpha, x) * x)


def relu6(x, sem=None):
    return np.clip(x, _c(0, x), _c(6, x))


def sigmoid(x, sem=None):
    """1 / (1 + exp(-x)), split by sign so exp never overflows."""
    x = _float(x)
    e = np.exp(-np.abs(x))
    one = _c(1, x)
    return np.where(x >= 0, one / (one + e), e / (one + e)).astype(x.dtype, copy=False)


def hard_sigmoid(x, sem: Semantics | None = None):
    """clip(0.2x + 0.5, 0, 1) up to tf.keras 2; relu6(x + 3) / 6 in Keras 3 (sem.hard_sigmoid)."""
    x = _float(x)
    if sem is not None and sem.hard_sigmoid is HardSigmoid.RELU6:
        return relu6(x + _c(3, x)) / _c(6, x)
    return np.clip(_c(0.2, x) * x + _c(0.5, x), _c(0, x), _c(1, x))


def hard_silu(x, sem=None):
    """Keras 3 hard_silu / hard_swish: x * relu6(x + 3) / 6."""
    x = _float(x)
    return x * (relu6(x + _c(3, x)) / _c(6, x))


def tanh(x, sem=None):
    return np.tanh(x)


def hard_tanh(x, sem=None):
    return np.clip(x, _c(-1, x), _c(1, x))


def tanh_shrink(x, sem=None):
    return x - np.tanh(x)


def softmax(x, sem: Semantics | None = None, axis=-1):
    """exp(x - max) / sum over `axis` (int or tuple); a NaN or +inf in a row gives a NaN row, as in Keras."""
    x = _float(x)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, sem=None, axis=-1):
    """x - max - log(sum(exp(x - max))) over `axis`."""
    x = _float(x)
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softplus(x, sem=None):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    x = _float(x)
    return (np.maximum(x, _c(0, x)) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def log_sigmoid(x, sem=None):
    return -softplus(-_float(x))


def softsign(x, sem=None):
    return x / (_c(1, x) + np.abs(x))


def elu(x, sem=None, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    x = _float(x)
    neg = _c(alpha, x) * np.expm1(np.minimum(x, _c(0, x)))
    return np.where(x > 0, x, neg).astype(x.dtype, copy=False)


def selu(x, sem=None):
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    x = _float(x)
    return (_c(scale, x) * elu(x, sem, alpha)).astype(x.dtype, copy=False)


def celu(x, sem=None, alpha=1.0):
    """Keras 3 celu: max(x, 0) + alpha * expm1(min(x, 0) / alpha)."""
    x = _float(x)
    a = _c(alpha, x)
    return np.maximum(x, _c(0, x)) + a * np.expm1(np.minimum(x, _c(0, x)) / a)


def exponential(x, sem=None):
    return np.exp(x)


def swish(x, sem=None):
    x = _float(x)
    return x * sigmoid(x)


def gelu(x, sem=None, approximate=False):
    """Exact gelu 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2) (the default in tf.keras 2 and Keras 3);
    approximate=True gives the tanh form."""
    x = _float(x)
    if approximate:
        c = _c(np.sqrt(2.0 / np.pi), x)
        return _c(0.5, x) * x * (_c(1, x) + np.tanh(c * (x + _c(0.044715, x) * x * x * x)))
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):  # -inf * erfc(inf) = -inf * 0 is NaN, as in Keras
        return (0.5 * x64 * erfc(-x64 / np.sqrt(2.0))).astype(x.dtype)


def mish(x, sem=None):
    x = _float(x)
    return x * np.tanh(softplus(x))


def soft_shrink(x, sem=None, threshold=0.5):
    x = _float(x)
    t = _c(threshold, x)
    return np.where(x > t, x - t, np.where(x < -t, x + t, _c(0, x)))


def hard_shrink(x, sem=None, threshold=0.5):
    x = _float(x)
    return np.where(np.abs(x) > _c(threshold, x), x, _c(0, x))


def sparse_plus(x, sem=None):
    """Keras 3 sparse_plus: 0 for x <= -1, (x + 1)^2 / 4 for |x| < 1, x for x >= 1."""
    x = _float(x)
    mid = _c(0.25, x) * (x + _c(1, x)) ** 2
    return np.where(x <= -1, _c(0, x), np.where(x < 1, mid, x))


def sparse_sigmoid(x, sem=None):
    """Keras 3 sparse_sigmoid: clip((x + 1) / 2, 0, 1)."""
    x = _float(x)
    return np.clip(_c(0.5, x) * (x + _c(1, x)), _c(0, x), _c(1, x))


def squareplus(x, sem=None, b=4):
    x = _float(x)
    return (x + np.sqrt(x * x + _c(b, x))) / _c(2, x)


def glu(x, sem=None, axis=-1):
    """Keras 3 glu: split `axis` in halves a, b; a * sigmoid(b)."""
    x = _float(x)
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


def sparsemax(x, sem=None, axis=-1):
    """Keras 3 sparsemax: Euclidean projection onto the simplex along `axis`."""
    x = _float(x)
    z = np.moveaxis(x, axis, -1)
    zs = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=x.dtype)
    cs = np.cumsum(zs, axis=-1)
    support = (_c(1, x) + k * zs) > cs
    kz = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, np.maximum(kz - 1, 0), axis=-1) - _c(1, x)) / kz.astype(x.dtype)
    return np.moveaxis(np.maximum(z - tau, _c(0, x)), -1, axis)


def _softmax_checked(x, sem=None):
    """Activation('softmax'): always the last axis; Keras 1 refuses anything but 2-D/3-D (§4.7)."""
    if sem is not None and sem.softmax_2d_3d_only and np.ndim(x) not in (2, 3):
        raise ValueError(f"Keras 1 softmax accepts only 2-D or 3-D tensors, got {np.ndim(x)}-D")
    return softmax(x, sem)


ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "hard_swish": hard_silu,
    "tanh": tanh,
    "hard_tanh": hard_tanh,
    "tanh_shrink": tanh_shrink,
    "softmax": _softmax_checked,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "log_sigmoid": log_sigmoid,
    "softsign": softsign,
    "elu": elu,
    "selu": selu,
    "celu": celu,
    "exponential": exponential,
    "swish": swish,
    "silu": swish,
    "gelu": gelu,
    "mish": mish,
    "soft_shrink": soft_shrink,
    "hard_shrink": hard_shrink,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "squareplus": squareplus,
    "glu": glu,
    "sparsemax": sparsemax,
}


def known(name: str) -> bool:
    """Whether `name` is an activation kstep can run."""
    return name in ACTIVATIONS


def apply(name: str, x: np.ndarray, sem: Semantics, params: dict | None = None) -> np.ndarray:
    """Run activation `name` on `x` (any shape, dtype kept).

    Raises UnsupportedLayer for an unknown name or an input the writer's Keras refused (Keras 1 4-D softmax); its
    layer name is params['name'] when the caller put one there, else '?'.
    """
    fn = ACTIVATIONS.get(name or "linear")
    where = (params or {}).get("name", "?")
    if fn is None:
        raise UnsupportedLayer(str(where), "Activation", f"unknown activation '{name}'")
    try:
        return fn(x, sem)
    except ValueError as exc:
        raise UnsupportedLayer(str(where), "Activation", f"{name}: {exc}") from None
