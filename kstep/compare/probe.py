"""Provides the diagnosis's typed access to the runs: `LayerProbe` (one aligned layer pair) and `InputProbe` (one
differing input pair), each with the re-run that tries a fix.

A layer cause re-runs NEW's layer alone on OLD's inputs (`LayerProbe.isolated`) with other weights, another spec or
other semantics, or OLD's layer under other semantics (`old_rerun`); an input cause re-runs the whole NEW model on a
corrected input (`InputProbe.rerun`). Both compare against OLD's output under the row's tolerance, NEW's output
mapped into OLD's layout. `isolated_outputs` is also how the comparison computes each row's isolated outputs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kstep.analysis import Stats, Tolerance
from kstep.compare.inputs import InputDiff, Inputs
from kstep.compare.layout import Tag, output_tag, to_new, to_old
from kstep.compare.metrics import compare_arrays, worst
from kstep.compare.preprocess import Transform, apply_all
from kstep.compare.trace import Trace, collect
from kstep.engine.executor import LayerResult
from kstep.errors import KstepError
from kstep.ir import Fact, LayerSpec, ModelFile
from kstep.semantics import Semantics


def isolated_outputs(old: Trace, new: Trace, ro: LayerResult, rn: LayerResult,
                     weights: Sequence[np.ndarray] | None = None, spec: LayerSpec | None = None,
                     sem: Semantics | None = None) -> list[np.ndarray] | None:
    """Run NEW's layer on OLD's inputs (mapped into NEW's layout); its outputs mapped into OLD's layout (None when
    it cannot be fed, e.g. inputs of other sizes, or run). With another `spec` (a diagnosis), the first output's
    layout is the one that spec gives it (a changed data_format changes it), not the original layer's."""
    if len(ro.input_arrays) != len(rn.input_arrays) or any(
            sorted(x.shape) != sorted(y.shape) for x, y in zip(ro.input_arrays, rn.input_arrays)):
        return None  # not the same inputs up to layout (a padding layer in one model only before this one)
    inputs = [to_new(x, old.tag_of(x), new.tag_of(y)) for x, y in zip(ro.input_arrays, rn.input_arrays)]
    try:
        out = new.executor.run_layer(spec or rn.layer, inputs, ro.input_masks,
                                     weights=None if weights is None else list(weights), sem=sem,
                                     kwargs=rn.layer.calls[rn.call].kwargs)
    except KstepError:
        return None
    tags = [new.tag_of(b) for b in rn.outputs]
    if spec is not None and out.outputs:
        tags[0] = output_tag(spec, new.in_tags(rn), [tuple(x.shape) for x in inputs], tuple(out.outputs[0].shape))
    return [to_old(b, old.tag_of(a), tag) for a, b, tag in zip(ro.outputs, out.outputs, tags)]


class LayerProbe:
    """One aligned layer pair as the diagnosis sees it: both specs, weights (as executed), semantics and facts,
    the first inputs' layout tags, and re-runs compared under `tolerance` (the row's)."""

    def __init__(self, old: Trace, new: Trace, ro: LayerResult, rn: LayerResult, tolerance: Tolerance):
        self._old, self._new, self._ro, self._rn = old, new, ro, rn
        self.tolerance = tolerance
        self.old_spec: LayerSpec = ro.layer
        self.new_spec: LayerSpec = rn.layer
        self.old_sem: Semantics = old.mf.semantics
        self.new_sem: Semantics = new.mf.semantics
        self.old_facts: list[Fact] = old.mf.facts
        self.new_facts: list[Fact] = new.mf.facts
        self.in_tags: tuple[Tag, Tag] | None = (
            (old.in_tags(ro)[0], new.in_tags(rn)[0]) if ro.input_arrays and rn.input_arrays else None)
        """The first input's tag on each side (None unless both calls read inputs)."""
        self.in_rank: int | None = ro.input_arrays[0].ndim if ro.input_arrays else None
        """The ndim of OLD's first input."""

    @property
    def old_weights(self) -> list[np.ndarray]:
        return self._old.executor.weights_of(self._ro.layer)

    @property
    def new_weights(self) -> list[np.ndarray]:
        return self._new.executor.weights_of(self._rn.layer)

    @property
    def old_inputs(self) -> list[np.ndarray]:
        """OLD's layer inputs as it was fed them, in OLD's layout."""
        return list(self._ro.input_arrays)

    def isolated(self, weights: Sequence[np.ndarray] | None = None, spec: LayerSpec | None = None,
                 sem: Semantics | None = None) -> Stats | None:
        """NEW's layer (with these weights, spec or semantics instead of its own) fed OLD's inputs, against OLD's
        output; None when it cannot be fed or run."""
        mapped = isolated_outputs(self._old, self._new, self._ro, self._rn, weights, spec, sem)
        return None if mapped is None else worst(self._ro.outputs, mapped, self.tolerance)

    def old_rerun(self, sem: Semantics) -> Stats | None:
        """OLD's layer re-run on its own inputs under `sem`, against NEW's output; None when it cannot run so."""
        ro, rn = self._ro, self._rn
        try:
            res = self._old.executor.run_layer(ro.layer, ro.input_arrays, ro.input_masks, sem=sem)
        except KstepError:
            return None
        b = to_old(rn.outputs[0], self._old.tag_of(ro.outputs[0]), self._new.tag_of(rn.outputs[0]))
        return compare_arrays(res.outputs[0], b, self.tolerance)


class InputProbe:
    """The one differing input pair, and the whole NEW model re-run on a corrected input, compared with OLD at the
    first divergent row (`old_key` / `new_key`) under `tolerance`."""

    def __init__(self, inputs: Inputs, diff: InputDiff, old: Trace, new_model: ModelFile, old_key: str,
                 new_key: str, tolerance: Tolerance):
        self._inputs, self._diff, self._old, self._new_model = inputs, diff, old, new_model
        self._old_key, self._new_key = old_key, new_key
        self.tolerance = tolerance
        self.tag_old: Tag = inputs.tags_old[diff.old]
        self.tag_new: Tag = inputs.tags_new[diff.new]
        self.old_input: np.ndarray = inputs.old[diff.old]
        """OLD's input as fed, in OLD's layout."""
        self.new_input: np.ndarray = to_old(inputs.new[diff.new], self.tag_old, self.tag_new)
        """NEW's input as fed, mapped into OLD's layout."""

    def rerun(self, transform: Transform) -> Stats | None:
        """NEW re-run with `transform` applied to its input (channel axis of NEW's layout), at the row; None when
        that run does not reach the row."""
        name = self._diff.new
        feeds = dict(self._inputs.new)
        feeds[name] = apply_all(self._inputs.new[name], [transform], self.tag_new.fmt == "channels_first")
        trace = collect(self._new_model, feeds)
        rn = trace.by_key.get(self._new_key)
        if rn is None or not rn.outputs:
            return None
        ro = self._old.by_key[self._old_key]
        return compare_arrays(ro.outputs[0], to_old(rn.outputs[0], self._old.tag_of(ro.outputs[0]),
                                                    trace.tag_of(rn.outputs[0])), self.tolerance)
