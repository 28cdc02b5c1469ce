"""Provides `Trace`: one model run through kstep's engine with every layer call's result and layout tag kept;
`Runner`, which advances a trace to a given layer call; `consumers`, the layers that read a tensor.

Tags are computed as results arrive: a model input's tag comes from the layers that read it, a layer's from its
kind, params and its inputs' tags (kstep.compare.layout). Arrays are matched to their tags by identity, since the
executor hands each output array object unchanged to its consumers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from kstep.compare.layout import PLAIN, Tag, input_tag, output_tag
from kstep.engine.executor import Executor, LayerResult
from kstep.ir import LayerSpec, ModelFile, ModelSpec


@dataclass
class Trace:
    """Every result of one run, by dump key, in execution order, with layout tags."""

    mf: ModelFile
    executor: Executor
    feeds: dict[str, np.ndarray]
    results: list[LayerResult] = field(default_factory=list)
    by_key: dict[str, LayerResult] = field(default_factory=dict)
    tags: dict[int, Tag] = field(default_factory=dict)  # id(array) -> tag
    input_tags: dict[str, Tag] = field(default_factory=dict)
    unsupported: list[LayerResult] = field(default_factory=list)

    def tag_of(self, arr: np.ndarray) -> Tag:
        return self.tags.get(id(arr), PLAIN)

    def out_tag(self, result: LayerResult) -> Tag:
        return self.tag_of(result.outputs[0]) if result.outputs else PLAIN

    def in_tags(self, result: LayerResult) -> list[Tag]:
        return [self.tag_of(x) for x in result.input_arrays]


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
                weights_from: Executor | None = None, transient: bool = False) -> Trace:
    """A trace ready to step. transient: for a run kept only for a per-layer statistic (see Executor); the caller
    drops each result's arrays once it has used them, and no layout tags are kept (array ids get reused)."""
    executor = Executor(mf, dtype, weights_from=weights_from, transient=transient)
    feeds = {k: executor.cast(v) for k, v in feeds.items()}
    trace = Trace(mf, executor, feeds)
    for name, arr in feeds.items():
        tag = input_tag(consumers(mf.model, name), arr.ndim)
        trace.tags[id(arr)] = tag
        trace.input_tags[name] = tag
    return trace


def step_trace(trace: Trace) -> Iterator[LayerResult]:
    """Run the trace's model one layer call at a time, recording each result and its output's layout tag."""
    for result in trace.executor.step(trace.feeds):
        trace.results.append(result)
        trace.by_key[result.key] = result
        if result.unsupported:
            trace.unsupported.append(result)
        if result.outputs and not trace.executor.transient:
            in_tags = trace.in_tags(result)
            in_shapes = [tuple(x.shape) for x in result.input_arrays]
            if result.layer.kind == "Model":
                tag = trace.tag_of(result.outputs[0])
            else:
                tag = output_tag(result.layer, in_tags, in_shapes, tuple(result.outputs[0].shape))
            trace.tags.setdefault(id(result.outputs[0]), tag)
            for extra in result.outputs[1:]:
                trace.tags.setdefault(id(extra), PLAIN)
        yield result


def collect(mf: ModelFile, feeds: dict[str, np.ndarray], dtype: str = "float32") -> Trace:
    """Run to the end and return the Trace."""
    trace = start_trace(mf, feeds, dtype)
    for _ in step_trace(trace):
        pass
    return trace


class Runner:
    """Advances one trace's run until a given key has been computed (the comparison moves runs in lockstep)."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.steps = step_trace(trace)
        self.exhausted = False

    def until(self, key: str) -> LayerResult | None:
        """The result of layer call `key`, running on until it is computed (None when the run never computes it)."""
        while key not in self.trace.by_key and not self.exhausted:
            try:
                next(self.steps)
            except StopIteration:
                self.exhausted = True
        return self.trace.by_key.get(key)

    def finish(self) -> None:
        """Run to the end."""
        for _ in self.steps:
            pass
        self.exhausted = True
