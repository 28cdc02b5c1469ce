"""Provides the version-neutral model description that the reader produces and the engine executes.

Everything here is plain data. Version spellings are already resolved: `LayerSpec.kind` is the canonical kind (the
tf.keras 2 class name, or a Keras-1-only kind such as `Merge`), `params` uses tf.keras 2 config keys with every
default filled in for the writer's version, and every `WeightRef` yields its array in the canonical tf.keras 2
layout. Facts the file did not state are `Fact`s tagged with where their value came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

import numpy as np

from kstep.semantics import Semantics


class Source(str, Enum):
    """Where a semantics fact's value came from."""

    FROM_FILE = "from_file"
    VERSION_DEFAULT = "version_default"
    ASSUMED = "assumed"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Fact:
    """One fact about how the file is executed: `key` is the `--assume` key that overrides it."""

    key: str
    value: Any
    source: Source
    why: str


@dataclass(frozen=True)
class TensorRef:
    """One tensor in a model graph: output `tensor` of call `call` (0-based, this model's calls) of `layer`."""

    layer: str
    call: int = 0
    tensor: int = 0


@dataclass
class WeightRef:
    """One canonical weight array, loaded lazily.

    name: the stored dataset name (or names joined by '+', when a conversion concatenates several);
    shape: canonical shape; stored_shapes: shapes as stored; transform: the layout conversion applied, if any.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    stored_shapes: tuple[tuple[int, ...], ...]
    load: Callable[[], np.ndarray] = field(repr=False)
    transform: str | None = None


@dataclass
class LayerCall:
    """One call of a layer inside its model: its input tensors (flattened, in order) and call kwargs."""

    inputs: list[TensorRef]
    kwargs: dict = field(default_factory=dict)


@dataclass
class LayerSpec:
    """One layer: name and class as stored, canonical kind and params, canonical weights, calls in its model.

    inner: the nested model when kind == 'Model'. wrapped: the inner layer(s) of a wrapper
    (TimeDistributed: one; Bidirectional: forward, backward); their weights are part of this layer's weights too.
    """

    name: str
    class_name: str
    kind: str
    params: dict
    weights: list[WeightRef] = field(default_factory=list)
    calls: list[LayerCall] = field(default_factory=list)
    inner: "ModelSpec | None" = None
    wrapped: list["LayerSpec"] = field(default_factory=list)
    trainable: bool = True
    notes: list[str] = field(default_factory=list)
    unsupported: str | None = None  # why kstep cannot execute this configuration of a known kind


@dataclass
class ModelSpec:
    """A Sequential or functional model as a graph: layers in config order, input and output tensors."""

    name: str
    class_name: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]

    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def layer(self, name: str) -> LayerSpec:
        """The layer called `name` (KeyError if none), through a name -> position map (a linear scan per lookup
        made a 10,000-layer model take seconds); the map is rebuilt when a hit is stale or on a miss."""
        pos = self._index.get(name)
        if pos is not None and pos < len(self.layers) and self.layers[pos].name == name:
            return self.layers[pos]
        self._index = {}
        for i, spec in enumerate(self.layers):
            self._index.setdefault(spec.name, i)
        pos = self._index.get(name)
        if pos is not None:
            return self.layers[pos]
        raise KeyError(name)


@dataclass
class ModelFile:
    """What the reader returns: the model graph plus how its writer executed it and what kstep assumed."""

    path: str
    format: str  # 'h5' | 'keras' | 'json+h5'
    stored_keras_version: str | None
    stored_backend: str | None
    semantics: Semantics
    evidence: list[str]
    facts: list[Fact]
    model: ModelSpec
    close: Callable[[], None] = field(repr=False, default=lambda: None)

    def __enter__(self) -> "ModelFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
