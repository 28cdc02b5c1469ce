"""Provides `Trace`: one model run through kstep's engine with every layer call's result and layout tag kept;
`Runner`, which advances a trace to a given layer call; `consumers`, the layers that read a tensor.

Tags are computed as results arrive: a model input's tag comes from the layers that read it, a layer's from its
kind, params and its inputs' tags (kstep.compare.layout). A tag is kept by the tensor's source (the producing call's
dump key and output index; kstep.engine.executor.Source), so it stays right when arrays are freed and their ids
reused (a transient run, or a run that keeps only what the comparison has not judged yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from kstep.compare.layout import PLAIN, Tag, input_tag, output_tag
from kstep.engine.executor import Executor, LayerResult, Source
from kstep.ir import LayerSpec, ModelFile, ModelSpec


@dataclass
class Trace:
    """One run's results with layout tags. keep: every result stays in `results` / `by_key` (else the caller takes
    each result from the `Runner` and drops it once judged)."""

    mf: ModelFile
    executor: Executor
    feeds: dict[str, np.ndarray]
    keep: bool = True
    results: list[LayerResult] = field(default_factory=list)
    by_key: dict[str, LayerResult] = field(default_factory=dict)
    tags: dict[Source, Tag] = field(default_factory=dict)
    input_tags: dict[str, Tag] = field(default_factory=dict)
    unsupported: list[LayerResult] = field(default_factory=list)

    def out_tags(self, result: LayerResult) -> list[Tag]:
        """The layout tag of each output of `result`."""
        return [self.tags.get((result.key, i), PLAIN) for i in range(len(result.outputs))]

    def out_tag(self, result: LayerResult) -> Tag:
        """The first output's layout tag (PLAIN when there is none)."""
        return self.tags.get((result.key, 0), PLAIN)

    def in_tags(self, result: LayerResult) -> list[Tag]:
        """The layout tag of each input array of `result`."""
        return [self.tags.get(src, PLAIN) for src in result.input_sources]


def consumers(model: ModelSpec, name: str) -> list[LayerSpec]:
    """The layers that read layer `name`'s output, once per call, in config order; a nested model that reads it
    is followed by the layers inside it that read its first input."""
    out = []
    for spec in model.layers:
        for call in spec.calls:
            if any(r.layer == name for r in call.inputs):
                out.append(spec)
                if spec.kind == "Model" and spec.inner is not None and spec.inner.inputs:
                    out.extend(consumers(spec.inner, spec.inner.inputs[0].layer))
    return out


def start_trace(mf: ModelFile, feeds: dict[str, np.ndarray], dtype: str = "float32",
                weights_from: Executor | None = None, transient: bool = False, keep: bool = True) -> Trace:
    """A trace ready to step. transient: the executor drops each tensor after its last consumer and caches no
    weights (see Executor); keep=False: the trace keeps no result either (the caller takes them from a Runner)."""
    executor = Executor(mf, dtype, weights_from=weights_from, transient=transient)
    feeds = {k: executor.cast(v) for k, v in feeds.items()}
    trace = Trace(mf, executor, feeds, keep)
    for name, arr in feeds.items():
        tag = input_tag(consumers(mf.model, name), arr.ndim)
        trace.tags[(name, 0)] = tag
        trace.input_tags[name] = tag
    return trace


def step_trace(trace: Trace) -> Iterator[LayerResult]:
    """Run the trace's model one layer call at a time, recording each output's layout tag (and, when the trace
    keeps results, the result)."""
    for result in trace.executor.step(trace.feeds):
        if trace.keep:
            trace.results.append(result)
            trace.by_key[result.key] = result
        if result.unsupported:
            trace.unsupported.append(result)
        if result.outputs:
            if result.layer.kind == "Model":
                tags = [trace.tags.get(src, PLAIN) for src in result.inner_sources]
            else:
                in_shapes = [tuple(x.shape) for x in result.input_arrays]
                tags = [output_tag(result.layer, trace.in_tags(result), in_shapes, tuple(result.outputs[0].shape))]
                tags += [PLAIN] * (len(result.outputs) - 1)
            in_tags = trace.in_tags(result)
            for i, (tag, out) in enumerate(zip(tags, result.outputs)):
                # an output that is one of the call's input arrays (an identity at inference) keeps that input's tag
                same = next((t for x, t in zip(result.input_arrays, in_tags) if x is out), None)
                trace.tags[(result.key, i)] = tag if same is None else same
        yield result


def collect(mf: ModelFile, feeds: dict[str, np.ndarray], dtype: str = "float32",
            weights_from: Executor | None = None) -> Trace:
    """Run to the end and return the Trace (weights_from: an executor of the same file whose weights to reuse)."""
    trace = start_trace(mf, feeds, dtype, weights_from)
    for _ in step_trace(trace):
        pass
    return trace


def slice_trace(trace: Trace, sample: int) -> Trace:
    """A kept trace restricted to one sample of its batch (views, nothing copied), same executor and tags."""
    def one(x):
        return None if x is None else x[sample:sample + 1]

    out = Trace(trace.mf, trace.executor, {k: v[sample:sample + 1] for k, v in trace.feeds.items()}, True,
                tags=dict(trace.tags), input_tags=dict(trace.input_tags))
    for r in trace.results:
        s = replace(r, outputs=[one(x) for x in r.outputs], input_arrays=[one(x) for x in r.input_arrays],
                    input_masks=[one(m) for m in r.input_masks],
                    masks=None if r.masks is None else [one(m) for m in r.masks])
        out.results.append(s)
        out.by_key[s.key] = s
        if s.unsupported:
            out.unsupported.append(s)
    return out


class Runner:
    """Advances one trace's run until a given key has been computed (the comparison moves runs in lockstep).

    Results computed ahead of the one asked for wait in `ahead` until asked for (a trace that does not keep its
    results holds nothing else)."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.steps = step_trace(trace)
        self.exhausted = False
        self.ahead: dict[str, LayerResult] = {}

    def until(self, key: str) -> LayerResult | None:
        """The result of layer call `key`, running on until it is computed (None when the run never computes it).
        A trace that does not keep results hands each result out once."""
        if self.trace.keep:
            while key not in self.trace.by_key and not self.exhausted:
                self._next()
            return self.trace.by_key.get(key)
        while key not in self.ahead and not self.exhausted:
            self._next()
        return self.ahead.pop(key, None)

    def _next(self) -> None:
        try:
            result = next(self.steps)
        except StopIteration:
            self.exhausted = True
            return
        if not self.trace.keep:
            self.ahead[result.key] = result

    def finish(self) -> None:
        """Run to the end (what nobody asked for is dropped)."""
        for _ in self.steps:
            pass
        self.exhausted = True
        self.ahead.clear()
