"""Provides `output_shapes`: every layer's output shapes for `kstep inspect`, found by running the engine once on
a zero input with batch 1 and zero weights of the stored shapes and dtypes (exact, since it is the same code that
`dump` runs, and no output shape depends on a weight's values). Nothing is read from the file: a 50,000-layer file
would otherwise open and read 50,000 datasets just for shapes.

Only done when it is cheap: when the model's weights total at most `limit` bytes and every input has a fixed
shape; otherwise the shapes stay unknown and the reason says why (inspect of a large file must stay fast and
light).
"""

from __future__ import annotations

import math

import numpy as np

from kstep.engine.executor import Executor
from kstep.errors import KstepError
from kstep.ir import LayerSpec, ModelFile, ModelSpec

LIMIT_BYTES = 64 * 2**20


def model_weight_bytes(model: ModelSpec) -> int:
    """Bytes of every weight array of the model, nested models included (from shapes: nothing is read)."""
    total = 0
    for spec in model.layers:
        if spec.inner is not None:  # a nested model: its layers hold the weights
            total += model_weight_bytes(spec.inner)
            continue
        for w in spec.weights:
            total += math.prod(int(d) for d in w.shape) * np.dtype(w.dtype).itemsize
    return total


class ZeroWeights(Executor):
    """An executor whose weights are zeros of each stored weight's (canonical) shape; float ones in the compute
    dtype, as `Executor.cast` would make them."""

    def weights_of(self, spec: LayerSpec) -> list[np.ndarray]:
        out = []
        for ref in spec.weights:
            dtype = np.dtype(ref.dtype)
            out.append(np.zeros(ref.shape, self.dtype if dtype.kind == "f" else dtype))
        return out


def output_shapes(mf: ModelFile, limit: int = LIMIT_BYTES) -> tuple[dict[str, list[list[int]]], str | None]:
    """({dump key: [output shape, ...]}, None) or ({...what was computed...}, why the rest is unknown)."""
    size = model_weight_bytes(mf.model)
    if size > limit:
        return {}, f"weights are {size / 2**20:.0f} MiB; shapes are computed only up to {limit // 2**20} MiB " \
                   "(kstep dump gives them)"
    feeds = {}
    for ref in mf.model.inputs:
        params = mf.model.layer(ref.layer).params
        shape = params.get("batch_input_shape")
        if shape is None or any(d is None for d in shape[1:]):
            return {}, f"input '{ref.layer}' has no fixed shape"
        dtype = params.get("dtype") or "float32"
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            dtype = np.dtype("float32")
        feeds[ref.layer] = np.zeros((1,) + tuple(shape[1:]), dtype=dtype)
    shapes: dict[str, list[list[int]]] = {}
    reason = None
    try:
        with np.errstate(all="ignore"):  # zero weights may divide by zero (the values are never shown)
            for result in ZeroWeights(mf).step(feeds):
                if result.outputs:
                    shapes[result.key] = [[None] + list(o.shape[1:]) for o in result.outputs]  # batch axis free
                elif result.unsupported and reason is None:
                    reason = f"not computed from '{result.key}' on: it is unsupported"
    except KstepError as exc:
        reason = f"running the model failed: {exc.message}"
    return shapes, reason
