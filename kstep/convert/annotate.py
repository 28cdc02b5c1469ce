"""Provides `annotate`: every layer call's input and output shapes and layout tags in MODEL as its own Keras runs it,
from one run of kstep's engine on a zero input (batch 1, 8 for every unknown dimension) with zero weights of the
stored shapes (nothing is read from the file, and no shape depends on a weight's values). The baking passes decide
from these what a layer reads (a channels_first feature map, a flattened one, a plain tensor) and at which sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstep.compare.layout import PLAIN, Tag
from kstep.compare.trace import start_trace, step_trace
from kstep.errors import BadInput
from kstep.ir import ModelFile, ModelSpec
from kstep.shapes import ZeroWeights

UNKNOWN_DIM = 8
"""The size given to every dimension a model input leaves unknown (also the random check input's)."""


@dataclass(frozen=True)
class CallInfo:
    """One layer call as MODEL's own Keras ran it: shapes (batch axis included, batch 1) and layout tags."""

    in_shapes: tuple[tuple[int, ...], ...]
    in_tags: tuple[Tag, ...]
    out_shapes: tuple[tuple[int, ...], ...]
    out_tags: tuple[Tag, ...]


@dataclass(frozen=True)
class Annotations:
    """Every call's `CallInfo` by dump key (NAME, NAME@k, OUTER/INNER), and each top-level input's tag and shape."""

    calls: dict[str, CallInfo]
    input_tags: dict[str, Tag]
    input_shapes: dict[str, tuple[int | None, ...]]

    def of(self, key: str) -> CallInfo | None:
        return self.calls.get(key)


def input_shape(model: ModelSpec, name: str) -> tuple[int | None, ...]:
    """The declared (batch-first) shape of model input `name` (its batch_input_shape), BadInput when none is stated."""
    params = model.layer(name).params
    shape = params.get("batch_input_shape") or params.get("batch_shape")
    if not shape:
        raise BadInput(f"input '{name}' states no shape; give --check REF")
    return tuple(None if d is None else int(d) for d in shape)


def input_dtype(model: ModelSpec, name: str) -> np.dtype:
    """The declared dtype of model input `name` (float32 when none or unreadable)."""
    try:
        return np.dtype(model.layer(name).params.get("dtype") or "float32")
    except TypeError:
        return np.dtype("float32")


def zero_feeds(mf: ModelFile) -> dict[str, np.ndarray]:
    """A zero array per model input, batch 1 and UNKNOWN_DIM for every other unknown dimension."""
    feeds = {}
    for ref in mf.model.inputs:
        shape = input_shape(mf.model, ref.layer)
        feeds[ref.layer] = np.zeros((1,) + tuple(UNKNOWN_DIM if d is None else d for d in shape[1:]),
                                    input_dtype(mf.model, ref.layer))
    return feeds


def annotate(mf: ModelFile) -> Annotations:
    """Shapes and layout tags of every call of MODEL (a layer kstep cannot run ends the walk: its calls and those
    after it have no CallInfo, and the baking passes refuse them)."""
    feeds = zero_feeds(mf)
    trace = start_trace(mf, feeds, weights_from=ZeroWeights(mf), transient=True, keep=False)
    calls: dict[str, CallInfo] = {}
    with np.errstate(all="ignore"):  # zero weights may divide by zero; only shapes are kept
        for result in step_trace(trace):
            if not result.outputs:
                continue
            calls[result.key] = CallInfo(
                tuple(tuple(x.shape) for x in result.input_arrays),
                tuple(trace.in_tags(result)),
                tuple(tuple(x.shape) for x in result.outputs),
                tuple(trace.out_tags(result)))
    shapes = {ref.layer: input_shape(mf.model, ref.layer) for ref in mf.model.inputs}
    return Annotations(calls, {k: trace.input_tags.get(k, PLAIN) for k in feeds}, shapes)
