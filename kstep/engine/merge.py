"""Provides the kernels for Add/Subtract/Multiply/Average/Maximum/Minimum/Concatenate/Dot and Keras 1 Merge modes.

Sources: ../shared/docs/keras-formats.md §4.8. Elementwise merges of inputs of different rank insert axes at 1, as
Keras 2's `_Merge` does, then broadcast. `batch_dot` keeps the batch axis, contracts one axis per input and turns a
1-D result into (batch, 1). Masks: elementwise merges AND their inputs' masks; concatenation concatenates them.
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from kstep.engine.base import Call, Kernel, Out
from kstep.semantics import L2Norm

# ------------------------------------------------------------------------------------------------------------ helpers

def _same_rank(xs: list[np.ndarray]) -> list[np.ndarray]:
    """Lower-rank inputs get axes inserted at 1 until every input has the highest rank (Keras 2 `_Merge`)."""
    top = max(x.ndim for x in xs)
    out = []
    for x in xs:
        while x.ndim < top:
            x = np.expand_dims(x, 1)
        out.append(x)
    return out


def _and_masks(call: Call) -> list | None:
    """The AND of the inputs' masks (missing ones count as all-true), or None when no input is masked."""
    masks = [m for m in call.masks if m is not None]
    if not masks:
        return None
    return [reduce(np.logical_and, masks)]


def _concat_masks(call: Call, axis: int) -> list | None:
    """Keras's Concatenate/Merge(concat) mask: each mask expanded to its input's shape, concatenated, all(-1)."""
    if not any(m is not None for m in call.masks):
        return None
    full = []
    for i, x in enumerate(call.inputs):
        m = call.masks[i] if i < len(call.masks) else None
        if m is None:
            full.append(np.ones(x.shape, dtype=bool))
            continue
        m = np.asarray(m, dtype=bool)
        m = m.reshape(m.shape + (1,) * (x.ndim - m.ndim))
        full.append(np.broadcast_to(m, x.shape))
    return [np.all(np.concatenate(full, axis=axis), axis=-1)]


def _elementwise(call: Call, op) -> Out:
    if len(call.inputs) < 2 and call.layer.kind != "Merge":
        raise call.unsupported(f"needs at least 2 inputs, got {len(call.inputs)}")
    xs = _same_rank(list(call.inputs))
    try:
        y = op(xs)
    except ValueError as exc:
        raise call.unsupported(f"input shapes {[x.shape for x in call.inputs]} do not broadcast: {exc}") from None
    return Out([y], masks=_and_masks(call))


def _sum(xs):
    return reduce(np.add, xs)


def _ave(xs):
    return _sum(xs) / np.asarray(len(xs), xs[0].dtype)


def _mul(xs):
    return reduce(np.multiply, xs)


def _max(xs):
    return reduce(np.maximum, xs)


def _min(xs):
    return reduce(np.minimum, xs)


def batch_dot(x: np.ndarray, y: np.ndarray, axes) -> np.ndarray:
    """Keras batch_dot: contract x's axis axes[0] with y's axes[1] per sample.

    (b, *xr) . (b, *yr) -> (b, *xr without axes[0], *yr without axes[1]); a (b,) result becomes (b, 1).
    """
    a0, a1 = axes
    xm = np.moveaxis(x, a0, -1)
    ym = np.moveaxis(y, a1, 1)
    xr, yr = xm.shape[1:-1], ym.shape[2:]
    b, n = xm.shape[0], xm.shape[-1]
    out = np.matmul(xm.reshape(b, -1, n), ym.reshape(b, n, -1)).reshape((b,) + xr + yr)
    return out.reshape(b, 1) if out.ndim == 1 else out


def _dot_axes(axes, x: np.ndarray, y: np.ndarray) -> list[int]:
    """An int or pair of (possibly negative) axes -> a pair of non-negative axes (Keras 2 Dot, Keras 1 dot_axes)."""
    if isinstance(axes, (int, np.integer)):
        axes = [int(axes)] * 2
    axes = list(axes)
    if len(axes) != 2:
        raise ValueError(f"axes must be an int or a pair, got {axes}")
    return [int(axes[0]) % x.ndim, int(axes[1]) % y.ndim]


def l2_normalize(call: Call, x: np.ndarray, axis: int) -> np.ndarray:
    """Dot(normalize=True)'s L2 normalisation of x over `axis`, in the form of `sem.l2_normalize` (§4.8).

    DIVIDE (Keras 1/2 on Theano/CNTK): x / sqrt(max(sum x^2, 1e-7)); RSQRT (Keras 2 on TF, tf.keras):
    x * rsqrt(max(sum x^2, 1e-12)); CAPPED_RSQRT (Keras 3): x * min(rsqrt(sum x^2), 1/1e-7).
    """
    one = np.asarray(1, x.dtype)
    ss = np.sum(np.square(x), axis=axis, keepdims=True)
    form = call.sem.l2_normalize
    if form is L2Norm.CAPPED_RSQRT:
        with np.errstate(divide="ignore"):  # a zero vector: min(inf, 1e7) * 0 = 0
            return x * np.minimum(one / np.sqrt(ss), np.asarray(1e7, x.dtype))
    if form is L2Norm.RSQRT:
        return x * (one / np.sqrt(np.maximum(ss, np.asarray(1e-12, x.dtype))))
    return x / np.sqrt(np.maximum(ss, np.asarray(call.sem.epsilon, x.dtype)))


# ------------------------------------------------------------------------------------------------------------ kernels

def add(call: Call) -> Out:
    return _elementwise(call, _sum)


def subtract(call: Call) -> Out:
    """Exactly two inputs: x0 - x1."""
    if len(call.inputs) != 2:
        raise call.unsupported(f"Subtract needs exactly 2 inputs, got {len(call.inputs)}")
    return _elementwise(call, lambda xs: xs[0] - xs[1])


def multiply(call: Call) -> Out:
    return _elementwise(call, _mul)


def average(call: Call) -> Out:
    return _elementwise(call, _ave)


def maximum(call: Call) -> Out:
    return _elementwise(call, _max)


def minimum(call: Call) -> Out:
    return _elementwise(call, _min)


def concatenate(call: Call) -> Out:
    """Concatenate along params['axis'] (default -1)."""
    axis = int(call.params.get("axis", -1))
    try:
        y = np.concatenate(call.inputs, axis=axis)
    except ValueError as exc:
        raise call.unsupported(f"cannot concatenate {[x.shape for x in call.inputs]} on axis {axis}: {exc}") from None
    return Out([y], masks=_concat_masks(call, axis))


def dot(call: Call) -> Out:
    """Dot(axes, normalize): batch_dot of two inputs, each L2-normalised first when normalize."""
    if len(call.inputs) != 2:
        raise call.unsupported(f"Dot needs exactly 2 inputs, got {len(call.inputs)}")
    x, y = call.inputs
    try:
        axes = _dot_axes(call.params.get("axes", -1), x, y)
    except ValueError as exc:
        raise call.unsupported(str(exc)) from None
    if x.shape[axes[0]] != y.shape[axes[1]]:
        raise call.unsupported(f"contracted sizes differ: {x.shape} axis {axes[0]} vs {y.shape} axis {axes[1]}")
    if call.params.get("normalize"):
        x, y = l2_normalize(call, x, axes[0]), l2_normalize(call, y, axes[1])
    return Out([batch_dot(x, y, axes)])


def merge(call: Call) -> Out:
    """Keras 1 Merge: mode sum, ave, mul, max, concat (concat_axis), dot and cos (dot_axes) (§4.8).

    cos = batch_dot(a, b) / max(sqrt(batch_dot(a, a) * batch_dot(b, b)), 1e-7), then an axis inserted at 1, so two
    2-D inputs give (b, 1, 1) as Keras 1 computed (its declared shape (b, 1) is not what it computed).
    """
    mode = call.params.get("mode", "sum")
    if not isinstance(mode, str):
        raise call.unsupported("Merge with a Python function as mode (marshalled code is never executed)")
    simple = {"sum": _sum, "ave": _ave, "mul": _mul, "max": _max}
    if mode in simple:
        return _elementwise(call, simple[mode])
    if mode == "concat":
        axis = int(call.params.get("concat_axis", -1))
        try:
            y = np.concatenate(call.inputs, axis=axis)
        except ValueError as exc:
            raise call.unsupported(f"cannot concatenate {[x.shape for x in call.inputs]}: {exc}") from None
        return Out([y], masks=_concat_masks(call, axis))
    if mode in ("dot", "cos"):
        if len(call.inputs) != 2:
            raise call.unsupported(f"mode {mode} needs exactly 2 inputs, got {len(call.inputs)}")
        a, b = call.inputs
        dot_axes = call.params.get("dot_axes", -1)
        try:
            axes = _dot_axes(dot_axes, a, b)
        except ValueError as exc:
            raise call.unsupported(str(exc)) from None
        try:  # cos: Keras 1 uses the same dot_axes pair for a.a and b.b
            ab = batch_dot(a, b, axes)
            if mode == "dot":
                return Out([ab])
            aa, bb = batch_dot(a, a, axes), batch_dot(b, b, axes)
        except ValueError as exc:
            raise call.unsupported(f"{mode} with dot_axes {axes} on {a.shape}, {b.shape}: {exc}") from None
        den = np.maximum(np.sqrt(aa * bb), np.asarray(call.sem.epsilon, a.dtype))
        return Out([np.expand_dims(ab / den, 1)])
    raise call.unsupported(f"Merge mode '{mode}' (a lambda or unknown mode)")


KERNELS: dict[str, Kernel] = {
    "Add": add,
    "Subtract": subtract,
    "Multiply": multiply,
    "Average": average,
    "Maximum": maximum,
    "Minimum": minimum,
    "Concatenate": concatenate,
    "Dot": dot,
    "Merge": merge,
}
