"""Provides the graph edits the baking passes make on a cloned `ir.ModelSpec`: a deep copy that shares only the
lazily loaded weight arrays, fresh layer names, a layer inserted before another one (on every call), a layer
replaced by a chain of standard layers that ends under its own name, and weights made from computed arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np

from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef, WeightRef


def clone_layer(spec: LayerSpec) -> LayerSpec:
    """A copy of `spec` whose params, calls, weight list, notes, wrapped layers and nested model can be edited
    without touching the original (the WeightRefs themselves are shared until a pass replaces them)."""
    wrapped = [clone_layer(w) for w in spec.wrapped]
    by_id = {id(old): new for old, new in zip((r for w in spec.wrapped for r in w.weights),
                                               (r for w in wrapped for r in w.weights))}
    return dataclasses.replace(
        spec, params=dict(spec.params), weights=[by_id.get(id(r), r) for r in spec.weights],
        calls=[LayerCall(list(c.inputs), dict(c.kwargs)) for c in spec.calls],
        inner=None if spec.inner is None else clone_model(spec.inner), wrapped=wrapped, notes=list(spec.notes))


def clone_model(model: ModelSpec) -> ModelSpec:
    """A copy of `model` that the passes may edit (see clone_layer)."""
    return ModelSpec(model.name, model.class_name, [clone_layer(s) for s in model.layers],
                     list(model.inputs), list(model.outputs))


def walk(model: ModelSpec, prefix: str = "") -> Iterator[tuple[str, ModelSpec, LayerSpec]]:
    """(key prefix, the model holding it, layer) for every layer, nested models' layers after their model (their
    prefix is the nested model's first call's dump key and '/')."""
    for spec in list(model.layers):
        yield prefix, model, spec
        if spec.kind == "Model" and spec.inner is not None:
            key = spec.name if len(spec.calls) <= 1 else f"{spec.name}@0"
            yield from walk(spec.inner, f"{prefix}{key}/")


def call_key(prefix: str, spec: LayerSpec, c: int) -> str:
    """The dump key of call `c` of `spec` under `prefix`."""
    return prefix + (spec.name if len(spec.calls) == 1 else f"{spec.name}@{c}")


def fresh_name(model: ModelSpec, base: str, taken: frozenset[str] = frozenset()) -> str:
    """`base`, or `base_2`, `base_3`, ...: a name no layer of `model` has (nor any in `taken`)."""
    names = {s.name for s in model.layers} | taken
    name, n = base, 1
    while name in names:
        n += 1
        name = f"{base}_{n}"
    return name


def new_layer(model: ModelSpec, base: str, kind: str, params: dict, weights: list[WeightRef] | None = None,
              taken: frozenset[str] = frozenset()) -> LayerSpec:
    """A layer of a standard kind with a fresh name (not yet in the model, no calls; not in `taken` either)."""
    return LayerSpec(name=fresh_name(model, base, taken), class_name=kind, kind=kind, params=dict(params),
                     weights=list(weights or []))


def insert_before(model: ModelSpec, target: LayerSpec, layer: LayerSpec) -> None:
    """Put single-input `layer` between `target` and its (single) input, on every call of `target`."""
    for c, call in enumerate(target.calls):
        layer.calls.append(LayerCall(list(call.inputs)))
        call.inputs = [TensorRef(layer.name, c, 0)]
    model.layers.insert(model.layers.index(target), layer)


def replace_with_chain(model: ModelSpec, target: LayerSpec,
                       build: Callable[[list[TensorRef], int], list[tuple[LayerSpec, list[TensorRef]]]]) -> None:
    """Replace `target` by standard layers: `build(inputs of call c, c)` gives, per call, the layers to add with their
    inputs; the last one must be named `target.name`, so every reference to the target still holds. Layers returned
    for several calls (the same object) are shared, as the target was."""
    added: list[LayerSpec] = []
    for c, call in enumerate(target.calls):
        for layer, inputs in build(list(call.inputs), c):
            layer.calls.append(LayerCall(inputs))
            if all(layer is not a for a in added):
                added.append(layer)
    if not added or added[-1].name != target.name:
        raise ValueError(f"a chain replacing '{target.name}' must end with a layer of that name")
    at = model.layers.index(target)
    model.layers[at:at + 1] = added
    model._index = {}


def computed(name: str, array: np.ndarray, transform: str) -> WeightRef:
    """A weight whose array kstep computed (already in memory)."""
    arr = np.ascontiguousarray(array)
    return WeightRef(name, tuple(arr.shape), str(arr.dtype), (tuple(arr.shape),), lambda: arr, transform)


def derived(ref: WeightRef, fn: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...], transform: str
            ) -> WeightRef:
    """`ref` with `fn` applied to its array when it is loaded (nothing is read now); `shape` is the result's."""
    return dataclasses.replace(ref, shape=tuple(shape), load=lambda: np.ascontiguousarray(fn(ref.load())),
                               transform=transform if ref.transform is None else f"{ref.transform}; {transform}")


def swap_weights(spec: LayerSpec, old: WeightRef, new: WeightRef) -> None:
    """Replace `old` by `new` in `spec`'s weights and in its wrapped layers' (which share them)."""
    for holder in (spec, *spec.wrapped):
        holder.weights = [new if r is old else r for r in holder.weights]
