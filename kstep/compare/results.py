"""Provides the small conversions between the engine's results and what the comparison judges: `computed` (a
result as the judge reads it), `with_weights`, `subset` (a result restricted to some samples), `merge_diffs` (the
input differences of two chunks), `weight_bytes` (what an executor's weight cache holds) and `sha256` of a file."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from kstep.compare.inputs import InputDiff
from kstep.compare.judge import Computed
from kstep.compare.trace import Trace
from kstep.engine.executor import Executor, LayerResult


def sha256(path: str) -> str:
    """The hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def computed(trace: Trace, result: LayerResult) -> Computed:
    """A layer call's result as the judge reads it (without weights)."""
    return Computed(result.key, result.layer, trace.mf.semantics, tuple(result.outputs),
                    tuple(trace.out_tags(result)),
                    trace.in_tags(result)[0] if result.input_arrays else None,
                    result.input_arrays[0].ndim if result.input_arrays else None,
                    unsupported=result.unsupported, skipped=result.skipped)


def with_weights(computed: Computed, trace: Trace, result: LayerResult) -> Computed:
    """`computed` with the layer's weights as executed."""
    return replace(computed, weights=tuple(trace.executor.weights_of(result.layer)))


def subset(result: LayerResult, mask: np.ndarray) -> LayerResult:
    """`result` restricted to the samples where `mask` holds (copies; `result` itself when every sample is)."""
    if mask.all():
        return result
    return replace(result, outputs=[x[mask] for x in result.outputs],
                   input_arrays=[x[mask] for x in result.input_arrays],
                   input_masks=[None if m is None else m[mask] for m in result.input_masks])


def merge_diffs(a: list[InputDiff], b: list[InputDiff]) -> list[InputDiff]:
    """The differing input pairs of two chunks: for a pair in both, the worse statistics."""
    out = {(d.old, d.new): d for d in a}
    for d in b:
        prev = out.get((d.old, d.new))
        if prev is None or d.stats.max_abs > prev.stats.max_abs:
            out[(d.old, d.new)] = d
    return list(out.values())


def weight_bytes(executor: Executor) -> int:
    """Bytes of the weights an executor holds (its cache, as the runs read them)."""
    return sum(w.nbytes for ws in executor.cached_weights() for w in ws)
