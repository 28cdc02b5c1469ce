"""Provides the stepping executor: one reference input through a model, layer call by layer call.

`Executor(model_file).step(feeds)` is a generator of `LayerResult`s in execution order (Kahn order, ties by config
position), so a caller can show progress and stop early; nested models yield their inner layers (keys
`OUTER/INNER`) before their own result. A layer whose kind the registry lacks is yielded as an unsupported
result; everything that does not depend on it still runs, nothing downstream is invented.
`Executor.run_layer(spec, inputs)` runs one layer in isolation on given inputs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from kstep.engine import registry
from kstep.engine.base import Call, Out, output_masks
from kstep.errors import BadInput, UnsupportedLayer, printable
from kstep.io.order import execution_order
from kstep.ir import LayerSpec, ModelFile, ModelSpec, TensorRef
from kstep.semantics import Semantics

Source = tuple[str, int]
"""Where a tensor comes from: (dump key of the call that produced it, output index), or (model input name, 0) for a
top-level model input; a nested model's inputs are their outer sources. Stable across runs of the same model (an
array's id() is not: arrays are freed and their ids reused)."""


@dataclass
class LayerResult:
    """One executed layer call. outputs: arrays (batch first); key: the dump key without the ':i' suffix."""

    key: str
    layer: LayerSpec
    call: int
    inputs: list[TensorRef]
    outputs: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    unsupported: str | None = None  # the reason, when the layer could not run
    skipped: bool = False  # an input came from an unsupported layer
    masks: list | None = None  # per output: bool mask (batch, time) or None
    input_arrays: list[np.ndarray] = field(default_factory=list, repr=False)  # the arrays this call read
    input_masks: list = field(default_factory=list, repr=False)
    input_sources: list[Source] = field(default_factory=list, repr=False)  # where each input array came from
    inner_sources: list[Source] = field(default_factory=list, repr=False)  # a nested model's: its outputs' sources

    def keyed_outputs(self, storable: bool = True) -> dict[str, np.ndarray]:
        """{'NAME': out} or {'NAME:0': out0, 'NAME:1': out1, ...}: the dump keys, the names exactly as they are
        (tools parse them), except, when `storable`, the two characters an .npz member name cannot hold (a NUL
        would cut the name short, a lone surrogate cannot be encoded), written as errors.printable shows them."""
        keys = [self.key] if len(self.outputs) == 1 else [f"{self.key}:{i}" for i in range(len(self.outputs))]
        if storable:
            keys = [re.sub("[\x00\ud800-\udfff]", lambda m: printable(m.group()), k) for k in keys]
        return dict(zip(keys, self.outputs))


class Executor:
    """Runs a `ModelFile` in numpy with the semantics its writer had; dtype is the compute dtype."""

    def __init__(self, model_file: ModelFile, dtype: str | np.dtype = "float32", *,
                 weights_from: Executor | None = None, transient: bool = False):
        """weights_from: another executor of the same file whose (cached) weights are cast instead of reading the
        file again. transient: keep nothing that is not needed any more (a run kept only for a statistic, such
        as the float64 noise run): each tensor is dropped after its last consumer and weights are not cached."""
        self.mf = model_file
        self.sem: Semantics = model_file.semantics
        self.dtype = np.dtype(dtype)
        self.weights_from = weights_from
        self.transient = transient
        self._weights: dict[int, list[np.ndarray]] = {}

    # -- weights -----------------------------------------------------------------------------------------------
    def weights_of(self, spec: LayerSpec) -> list[np.ndarray]:
        cached = self._weights.get(id(spec))
        if cached is None:
            stored = (self.weights_from.weights_of(spec) if self.weights_from is not None
                      else [ref.load() for ref in spec.weights])
            cached = [self.cast(arr) for arr in stored]
            if not self.transient:
                self._weights[id(spec)] = cached
        return cached

    def cached_weights(self) -> list[list[np.ndarray]]:
        """Every layer's weights this executor holds (those read so far)."""
        return list(self._weights.values())

    def preload(self, model: ModelSpec | None = None) -> None:
        """Read every layer's weights now (so timing the run measures compute, not file reading)."""
        for spec in (model or self.mf.model).layers:
            if spec.kind == "Model":
                self.preload(spec.inner)
            else:
                self.weights_of(spec)
                for inner in spec.wrapped:
                    self.weights_of(inner)

    # -- one layer ---------------------------------------------------------------------------------------------
    def run_layer(self, spec: LayerSpec, inputs: list[np.ndarray], masks: list | None = None,
                  weights: list[np.ndarray] | None = None, sem: Semantics | None = None,
                  kwargs: dict | None = None) -> Out:
        """Run one (non-model) layer on the given inputs, optionally with other weights or semantics (diagnosis).

        Raises UnsupportedLayer for kinds kstep lacks.
        """
        kernel = registry.lookup(spec.kind)
        if kernel is None:
            raise UnsupportedLayer(spec.name, spec.kind, "kstep has no implementation of this kind")
        if spec.unsupported:
            raise UnsupportedLayer(spec.name, spec.kind, spec.unsupported)
        inputs = [self.cast(x) for x in inputs]
        if weights is None:
            weights = self.weights_of(spec)
        else:
            weights = [self.cast(w) for w in weights]
        call = Call(layer=spec, inputs=inputs, weights=weights, sem=sem or self.sem, dtype=self.dtype,
                    masks=list(masks) if masks else [None] * len(inputs), run_inner=self._run_inner,
                    kwargs=dict(kwargs or {}))
        try:
            return kernel(call)
        except UnsupportedLayer:
            raise
        except (ValueError, IndexError) as exc:
            shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
            raise BadInput(f"layer '{spec.name}' ({spec.kind}) cannot run on input shape {shapes} with its "
                           f"weights {[tuple(w.shape) for w in call.weights]}: {exc}", path=self.mf.path) from None

    def _run_inner(self, spec: LayerSpec, inputs: list[np.ndarray], masks: list) -> Out:
        return self.run_layer(spec, inputs, masks)

    def cast(self, x: np.ndarray) -> np.ndarray:
        """x in this run's compute dtype (floats only; other dtypes, e.g. token ids, unchanged)."""
        x = np.asarray(x)
        if x.dtype.kind == "f" and x.dtype != self.dtype:
            return x.astype(self.dtype)
        return x

    # -- whole model -------------------------------------------------------------------------------------------
    def step(self, feeds: dict[str, np.ndarray]) -> Iterator[LayerResult]:
        """Yield every layer call's result; `feeds` maps input layer names to arrays (batch axis first)."""
        model = self.mf.model
        tensors: dict[tuple[str, int, int], np.ndarray] = {}
        masks: dict[tuple[str, int, int], np.ndarray | None] = {}
        sources: dict[tuple[str, int, int], Source] = {}
        for ref in model.inputs:
            if ref.layer not in feeds:
                raise BadInput(f"no reference input for model input '{ref.layer}'")
            tensors[(ref.layer, 0, 0)] = self.cast(feeds[ref.layer])
            sources[(ref.layer, 0, 0)] = (ref.layer, 0)
        yield from self._run_graph(model, tensors, masks, sources, prefix="")

    def _run_graph(self, model: ModelSpec, tensors: dict, masks: dict, sources: dict,
                   prefix: str) -> Iterator[LayerResult]:
        dead: set[tuple[str, int]] = set()
        order = execution_order(model, self.mf.path)
        free_after = _free_after(model, order) if self.transient else {}
        for step, (name, c) in enumerate(order):
            _release(tensors, masks, sources, free_after.get(step - 1, ()))
            spec = model.layer(name)
            call = spec.calls[c]
            key = prefix + (name if len(spec.calls) == 1 else f"{name}@{c}")
            producers = [(r.layer, r.call) for r in call.inputs]
            if any(p in dead for p in producers):
                dead.add((name, c))
                yield LayerResult(key, spec, c, call.inputs, skipped=True)
                continue
            try:
                inputs = [tensors[(r.layer, r.call, r.tensor)] for r in call.inputs]
            except KeyError as exc:
                raise BadInput(f"layer '{name}' uses output {exc.args[0][2]} of '{exc.args[0][0]}', "
                               "which that layer does not produce", path=self.mf.path) from None
            in_masks = [masks.get((r.layer, r.call, r.tensor)) for r in call.inputs]
            in_sources = [sources[(r.layer, r.call, r.tensor)] for r in call.inputs]
            if spec.kind == "Model":
                result = yield from self._run_nested(spec, inputs, in_masks, in_sources, key, c)
            else:
                result = self._run_call(spec, c, key, inputs, in_masks)
            result.input_arrays, result.input_masks, result.input_sources = inputs, in_masks, in_sources
            if result.unsupported or result.skipped:
                dead.add((name, c))
                yield result
                continue
            for i, out in enumerate(result.outputs):
                tensors[(name, c, i)] = out
                masks[(name, c, i)] = result.masks[i] if result.masks else None
                sources[(name, c, i)] = (key, i)
            yield result

    def _run_call(self, spec: LayerSpec, c: int, key: str, inputs, in_masks) -> LayerResult:
        start = time.perf_counter()
        try:
            out = self.run_layer(spec, inputs, in_masks, kwargs=spec.calls[c].kwargs)
        except UnsupportedLayer as exc:
            return LayerResult(key, spec, c, spec.calls[c].inputs, unsupported=exc.reason)
        seconds = time.perf_counter() - start
        result = LayerResult(key, spec, c, spec.calls[c].inputs, outputs=list(out.outputs), seconds=seconds)
        result.masks = output_masks(spec.kind, out, in_masks[0] if in_masks else None)
        return result

    def _run_nested(self, spec: LayerSpec, inputs, in_masks, in_sources, key: str, c: int):
        inner = spec.inner
        if inner is None:
            raise BadInput(f"nested model '{spec.name}' has no model config", path=self.mf.path)
        if len(inputs) != len(inner.inputs):
            raise BadInput(f"nested model '{spec.name}' takes {len(inner.inputs)} inputs, called with {len(inputs)}",
                           path=self.mf.path)
        tensors = {(r.layer, 0, 0): x for r, x in zip(inner.inputs, inputs)}
        masks = {(r.layer, 0, 0): m for r, m in zip(inner.inputs, in_masks)}
        sources = {(r.layer, 0, 0): s for r, s in zip(inner.inputs, in_sources)}
        start = time.perf_counter()
        for result in self._run_graph(inner, tensors, masks, sources, prefix=key + "/"):
            yield result
        seconds = time.perf_counter() - start
        if any((r.layer, r.call, r.tensor) not in tensors for r in inner.outputs):
            return LayerResult(key, spec, c, spec.calls[c].inputs, skipped=True)
        result = LayerResult(key, spec, c, spec.calls[c].inputs,
                             outputs=[tensors[(r.layer, r.call, r.tensor)] for r in inner.outputs], seconds=seconds)
        result.masks = [masks.get((r.layer, r.call, r.tensor)) for r in inner.outputs]
        result.inner_sources = [sources[(r.layer, r.call, r.tensor)] for r in inner.outputs]
        return result


def _free_after(model: ModelSpec, order: list[tuple[str, int]]) -> dict[int, list[tuple[str, int]]]:
    """step -> the (layer, call) sources whose outputs no call after that step of `order` reads (model outputs and
    tensors nobody reads are kept)."""
    last: dict[tuple[str, int], int] = {}
    for step, (name, c) in enumerate(order):
        for r in model.layer(name).calls[c].inputs:
            last[(r.layer, r.call)] = step
    for r in model.outputs:
        last.pop((r.layer, r.call), None)
    out: dict[int, list[tuple[str, int]]] = {}
    for source, step in last.items():
        out.setdefault(step, []).append(source)
    return out


def _release(tensors: dict, masks: dict, sources: dict, calls) -> None:
    """Drop every output tensor of the given (layer, call)s."""
    for layer, call in calls:
        t = 0
        while (layer, call, t) in tensors:
            del tensors[(layer, call, t)]
            masks.pop((layer, call, t), None)
            sources.pop((layer, call, t), None)
            t += 1
