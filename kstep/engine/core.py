"""Provides the kernels for Dense, Activation, identity-at-inference layers, reshaping layers, Embedding, Masking,
preprocessing layers (Rescaling, Normalization, CenterCrop), Keras 1 Highway/MaxoutDense, EinsumDense.

Sources: ../shared/docs/keras-formats.md §4.5 (Flatten), §4.9 (Highway, MaxoutDense, Embedding, Masking, dropout).
"""

from __future__ import annotations

import re

import numpy as np

from kstep.engine import activations
from kstep.engine.base import Call, Kernel, Out, finish


def _act(call: Call, name: str | None, x: np.ndarray) -> np.ndarray:
    """Activation `name` on x, failing as this layer when kstep does not know it."""
    if not activations.known(name or "linear"):
        raise call.unsupported(f"unknown activation '{name}'")
    return activations.apply(name or "linear", x, call.sem, {"name": call.layer.name})


def _finish(call: Call, z: np.ndarray) -> Out:
    """base.finish after checking the activation name, so an unknown one names this layer."""
    name = call.params.get("activation") or "linear"
    if not activations.known(name):
        raise call.unsupported(f"unknown activation '{name}'")
    if name == "softmax" and call.sem.softmax_2d_3d_only and z.ndim not in (2, 3):
        raise call.unsupported("Keras 1 softmax accepts only 2-D or 3-D tensors")
    return finish(call, z)


def dense(call: Call) -> Out:
    """(..., in) @ kernel (in, units) + bias (units,) -> (..., units), then the activation (any input rank)."""
    x = call.x
    kernel = call.weights[0]
    z = np.matmul(x, kernel)
    if call.params.get("use_bias", True) and len(call.weights) > 1:
        z = z + call.weights[1]
    return _finish(call, z)


def einsum_dense(call: Call) -> Out:
    """EinsumDense: einsum(equation, x, kernel) + bias, then the activation. The stored bias already has the shape
    that broadcasts over the output's trailing axes from the first bias axis on (Keras builds it that way)."""
    equation = call.params.get("equation")
    if not isinstance(equation, str) or not _EINSUM_EQUATION.fullmatch(equation.replace(" ", "")):
        raise call.unsupported(f"equation {equation!r} is not of the form 'ab,bc->ac'")
    if call.params.get("lora_rank") or call.params.get("quantization_config"):
        raise call.unsupported("LoRA and quantized EinsumDense weights are not read yet")
    z = np.einsum(equation.replace(" ", ""), call.x, call.weights[0], optimize=True)
    if len(call.weights) > 1:
        z = z + call.weights[1]
    return _finish(call, z)


_EINSUM_EQUATION = re.compile(r"(\.\.\.)?[a-zA-Z]+,[a-zA-Z]+->(\.\.\.)?[a-zA-Z]+")


def activation(call: Call) -> Out:
    """Activation(name): the named activation on any shape."""
    return Out([_act(call, call.params.get("activation"), call.x)])


def identity(call: Call) -> Out:
    """Dropout, SpatialDropout*, GaussianNoise/Dropout, AlphaDropout, ActivityRegularization: identity at inference."""
    return Out([call.x])


def flatten(call: Call) -> Out:
    """(b, ...) -> (b, prod(...)); channels_first first moves the channel axis last (Keras >= 2.2, §4.5)."""
    x = call.x
    if call.params.get("data_format") == "channels_first" and x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return Out([x.reshape(x.shape[0], -1)])


def reshape(call: Call) -> Out:
    """(b, ...) -> (b, *target_shape), one -1 allowed."""
    target = tuple(int(d) for d in call.params["target_shape"])
    x = call.x
    try:
        return Out([x.reshape((x.shape[0],) + target)])
    except ValueError as exc:
        raise call.unsupported(f"cannot reshape {x.shape[1:]} to {target}: {exc}") from None


def permute(call: Call) -> Out:
    """Permute(dims) with 1-based dims over the non-batch axes."""
    dims = tuple(int(d) for d in call.params["dims"])
    return Out([np.transpose(call.x, (0,) + dims)])


def repeat_vector(call: Call) -> Out:
    """(b, f) -> (b, n, f)."""
    n = int(call.params["n"])
    x = call.x
    return Out([np.repeat(x[:, None, ...], n, axis=1)])


def masking(call: Call) -> Out:
    """y = x * any(x != mask_value, -1, keepdims); mask = any(x != mask_value, -1) (§4.9)."""
    x = call.x
    value = np.asarray(call.params.get("mask_value", 0.0), dtype=x.dtype)
    keep = np.any(x != value, axis=-1, keepdims=True)
    return Out([x * keep.astype(x.dtype)], masks=[keep[..., 0]])


def embedding(call: Call) -> Out:
    """int(x) of shape (b, ...) gathered from embeddings (input_dim, output_dim) -> (b, ..., output_dim).

    With mask_zero the output mask is x != 0. Indices outside [0, input_dim) are refused (TF raises on them too).
    """
    x = np.asarray(call.x)
    table = call.weights[0]
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise call.unsupported("non-finite embedding index")
    idx = x.astype(np.int64)  # Keras casts to int32: truncation toward zero
    if idx.size and (idx.min() < 0 or idx.max() >= table.shape[0]):
        raise call.unsupported(f"index out of range [0, {table.shape[0]}): min {idx.min()}, max {idx.max()}")
    y = table[idx]
    if call.params.get("mask_zero"):
        return Out([y], masks=[x != 0])
    return Out([y])


def rescaling(call: Call) -> Out:
    """x * scale + offset (scale and offset scalars or broadcastable lists)."""
    x = call.x
    scale = np.asarray(call.params.get("scale", 1.0), dtype=x.dtype)
    offset = np.asarray(call.params.get("offset", 0.0), dtype=x.dtype)
    return Out([x * scale + offset])


def _norm_stats(call: Call, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalization's mean and variance, reshaped to broadcast against x (weights first, then config values)."""
    if len(call.weights) >= 2:
        mean, var = call.weights[0], call.weights[1]
    elif call.params.get("mean") is not None and call.params.get("variance") is not None:
        mean, var = call.params["mean"], call.params["variance"]
    else:
        raise call.unsupported("no adapted mean/variance stored")
    axis = call.params.get("axis", -1)
    if axis is None:
        keep = []
    else:
        axes = [axis] if isinstance(axis, int) else list(axis)
        keep = sorted(a % x.ndim for a in axes)
    shape = [x.shape[d] if d in keep else 1 for d in range(x.ndim)]
    shape[0] = 1

    def fit(v):
        v = np.asarray(v, dtype=x.dtype)
        return v.reshape(shape) if v.size == int(np.prod(shape)) else v

    return fit(mean), fit(var)


def normalization(call: Call) -> Out:
    """(x - mean) / max(sqrt(variance), 1e-7); invert=True gives mean + x * max(sqrt(variance), 1e-7)."""
    x = call.x
    mean, var = _norm_stats(call, x)
    std = np.maximum(np.sqrt(var), np.asarray(call.sem.epsilon, x.dtype))
    if call.params.get("invert"):
        return Out([mean + x * std])
    return Out([(x - mean) / std])


def center_crop(call: Call) -> Out:
    """Crop the central (height, width) of (b, h, w, c) (or (b, c, h, w) for channels_first)."""
    x = call.x
    h, w = int(call.params["height"]), int(call.params["width"])
    hax, wax = (2, 3) if call.params.get("data_format") == "channels_first" else (x.ndim - 3, x.ndim - 2)
    ih, iw = x.shape[hax], x.shape[wax]
    if ih < h or iw < w:
        raise call.unsupported(f"input {ih}x{iw} smaller than the crop {h}x{w} (Keras resizes then)")
    top, left = (ih - h) // 2, (iw - w) // 2
    index = [slice(None)] * x.ndim
    index[hax], index[wax] = slice(top, top + h), slice(left, left + w)
    return Out([x[tuple(index)]])


def highway(call: Call) -> Out:
    """Keras 1 Highway: t = sigmoid(x W_carry + b_carry); y = t * act(x W + b) + (1 - t) * x (§4.9)."""
    x = call.x
    w, w_carry = call.weights[0], call.weights[1]
    z = np.matmul(x, w)
    zt = np.matmul(x, w_carry)
    if len(call.weights) >= 4:
        z = z + call.weights[2]
        zt = zt + call.weights[3]
    t = activations.sigmoid(zt)
    h = _act(call, call.params.get("activation") or "linear", z)
    return Out([t * h + (np.asarray(1, x.dtype) - t) * x], pre_activation=z)


def maxout_dense(call: Call) -> Out:
    """Keras 1 MaxoutDense: max_k(x W[k] + b[k]) with W (nb_feature, in, units), b (nb_feature, units)."""
    x = call.x
    w = call.weights[0]
    z = np.einsum("...i,kio->...ko", x, w)
    if len(call.weights) > 1:
        z = z + call.weights[1]
    return Out([np.max(z, axis=-2)])


KERNELS: dict[str, Kernel] = {
    "Dense": dense,
    "Activation": activation,
    "Dropout": identity,
    "SpatialDropout1D": identity,
    "SpatialDropout2D": identity,
    "SpatialDropout3D": identity,
    "GaussianNoise": identity,
    "GaussianDropout": identity,
    "AlphaDropout": identity,
    "ActivityRegularization": identity,
    "Identity": identity,
    "Flatten": flatten,
    "Reshape": reshape,
    "Permute": permute,
    "RepeatVector": repeat_vector,
    "Masking": masking,
    "Embedding": embedding,
    "Rescaling": rescaling,
    "Normalization": normalization,
    "CenterCrop": center_crop,
    "Highway": highway,
    "MaxoutDense": maxout_dense,
    "EinsumDense": einsum_dense,
}
