"""Provides the contract between the executor and the layer kernels: `Call` in, `Out` out, plus the two rules every
kernel shares: `finish` (a fused activation) and `output_masks` (which masks a layer's outputs carry).

A kernel is a plain function `kernel(call: Call) -> Out` registered by canonical kind in its family module's
`KERNELS` dict. It reads `call.params` (tf.keras 2 config keys, defaults already filled in by the reader), the input
arrays (batch axis first, already in the compute dtype) and the weights (canonical tf.keras 2 layouts, already in
the compute dtype), asks `call.sem` about version semantics, and returns its output tensors. Kernels keep the
compute dtype (float32 stays float32; use `np.asarray(c, x.dtype)` for constants) and never loop in Python over
elements, only over time steps or a few groups. A kernel that sets no output masks gets the default rule: the kinds
whose kstep.kinds record has `passes_mask` (PASSES_MASK) pass their first input's mask on, the others drop it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kstep.engine.activations import apply
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.kinds import KINDS, kinds_where
from kstep.semantics import Semantics

PASSES_MASK: frozenset[str] = kinds_where("passes_mask")
"""Kinds that pass their first input's mask through unchanged when their kernel sets none (Keras's
`supports_masking` layers; kstep.kinds `passes_mask`)."""


@dataclass
class Out:
    """A kernel's result.

    outputs: the layer's output tensors (one for most layers; several for return_state, merge_mode=None, ...).
    pre_activation: the value before the fused activation, for layers that fuse one (Dense, Conv*, ...).
    masks: one entry per output (array of bool, shape (batch, time), or None) when the kernel produces or consumes
    a mask; None means "apply the default rule" of `output_masks` (pass the first input's mask through for the
    kinds in PASSES_MASK, drop it otherwise).
    """

    outputs: list[np.ndarray]
    pre_activation: np.ndarray | None = None
    masks: list[np.ndarray | None] | None = None


@dataclass
class Call:
    """One layer call as a kernel sees it.

    run_inner(spec, inputs, masks), given by the executor, runs another layer (a wrapper's inner layer) with the same
    semantics and dtype, loading that layer's own weights, and returns its `Out`; kernels call it as `call.run`.
    """

    layer: LayerSpec
    inputs: list[np.ndarray]
    weights: list[np.ndarray]
    sem: Semantics
    dtype: np.dtype
    masks: list[np.ndarray | None] = field(default_factory=list)
    run_inner: Callable[[LayerSpec, list[np.ndarray], list], Out] | None = None
    kwargs: dict = field(default_factory=dict)  # this call's non-tensor kwargs (use_causal_mask, training, ...)

    @property
    def params(self) -> dict:
        return self.layer.params

    @property
    def x(self) -> np.ndarray:
        """The first (usually only) input."""
        return self.inputs[0]

    @property
    def mask(self) -> np.ndarray | None:
        """The first input's mask, if any."""
        return self.masks[0] if self.masks else None

    @property
    def rank(self) -> int:
        """The spatial rank of this layer's kind (kstep.kinds `rank`: 'Conv2D' -> 2, 'ConvLSTM1D' -> 1)."""
        rank = KINDS[self.layer.kind].rank
        if rank is None:
            raise self.unsupported("a kind without a spatial rank")
        return rank

    def run(self, spec: LayerSpec, inputs: list[np.ndarray], masks: list) -> Out:
        """Run another layer (a wrapper's inner layer) through `run_inner`, with this call's semantics and dtype."""
        if self.run_inner is None:
            raise self.unsupported("no executor to run the inner layer with (run_inner)")
        return self.run_inner(spec, inputs, masks)

    def unsupported(self, reason: str) -> UnsupportedLayer:
        """An error to raise for a configuration of a supported kind that kstep cannot execute."""
        return UnsupportedLayer(self.layer.name, self.layer.kind, reason)


Kernel = Callable[[Call], Out]


def output_masks(kind: str, out: Out, first_mask: np.ndarray | None) -> list[np.ndarray | None] | None:
    """The masks of a `kind` kernel's outputs: its own (`out.masks`), else `first_mask` (the first input's) repeated
    for the kinds in PASSES_MASK, else None (no output is masked)."""
    if out.masks is not None:
        return list(out.masks)
    if first_mask is not None and kind in PASSES_MASK:
        return [first_mask] * len(out.outputs)
    return None


def finish(call: Call, z: np.ndarray, activation_key: str = "activation") -> Out:
    """Apply the layer's fused activation (params[activation_key]) to `z` and keep `z` as the pre-activation."""
    name = call.params.get(activation_key) or "linear"
    if name == "linear":
        return Out([z])
    return Out([apply(name, z, call.sem, {**call.params, "name": call.layer.name})], pre_activation=z)


def mean_or_nan(x: np.ndarray, axis: int | tuple[int, ...], keepdims: bool = True) -> np.ndarray:
    """np.mean in x's dtype, except over 0 elements: NaN (what TensorFlow's reduce_mean and Theano give, 0/0) without
    numpy's "Mean of empty slice" warning on stderr."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if all(x.shape[a] for a in axes):
        return np.mean(x, axis=axes, keepdims=keepdims, dtype=x.dtype)
    reduced = {a % x.ndim for a in axes}
    shape = tuple(1 if i in reduced else d for i, d in enumerate(x.shape))
    out = np.full(shape, np.nan, dtype=x.dtype)
    return out if keepdims else out.reshape(tuple(d for i, d in enumerate(x.shape) if i not in reduced))
