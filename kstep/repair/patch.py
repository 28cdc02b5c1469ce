"""Provides the in-memory half of `kstep fix`: edits (kstep.edits) applied to an opened NEW `ModelFile`, and the
lookup of the layer an edit names.

NEW's file on disk is never touched here: the patched layer's `WeightRef`s load the edited arrays, its params hold
the edited keys, so a comparison run on the patched model is a run of NEW's file with the edits, and nothing else
(no OLD weights, no facts about OLD).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np

from kstep.compare import fixes
from kstep.edits import Edit
from kstep.errors import KstepError
from kstep.ir import LayerSpec, ModelFile, ModelSpec, WeightRef


def find_path(model: ModelSpec, key: str) -> list[LayerSpec]:
    """The layers a dump key names, outermost first (NAME, NAME@k for call k, OUTER/INNER in a nested model). Names
    may themselves hold '/' or '@': every split that names a layer is tried. KstepError when none does."""
    found = next(_matches(model, key), None)
    if found is None:
        raise KstepError(f"kstep fix: no layer '{key}' in NEW's model")
    return found


def find_layer(model: ModelSpec, key: str) -> LayerSpec:
    """The layer a dump key names (the innermost of find_path)."""
    return find_path(model, key)[-1]


def _matches(model: ModelSpec, key: str) -> Iterator[list[LayerSpec]]:
    for spec in model.layers:
        names = [spec.name] + [f"{spec.name}@{c}" for c in range(len(spec.calls))]
        for name in names:
            if key == name:
                yield [spec]
            elif key.startswith(name + "/") and spec.inner is not None:
                for inner in _matches(spec.inner, key[len(name) + 1:]):
                    yield [spec, *inner]


def by_layer(edits: Sequence[Edit]) -> dict[str, list[Edit]]:
    """Edits grouped by NEW's layer key, each group in the order given."""
    out: dict[str, list[Edit]] = {}
    for edit in edits:
        out.setdefault(edit.layer, []).append(edit)
    return out


def edited_arrays(spec: LayerSpec, edits: Sequence[Edit], supplied: fixes.Supplied | None = None
                  ) -> dict[int, np.ndarray]:
    """The canonical weight arrays `edits` change (index -> array), from the layer's stored arrays (and the
    supplied ones of OLD_WEIGHTS)."""
    touched = sorted({i for e in edits for i in e.weights})
    if not touched:
        return {}
    if max(touched) >= len(spec.weights):
        raise KstepError(f"kstep fix: layer '{spec.name}' has no weight {max(touched)}")
    arrays = fixes.edited_weights(edits, [ref.load() for ref in spec.weights], supplied)
    return {i: arrays[i] for i in touched}


def apply_edits(mf: ModelFile, edits: Sequence[Edit], supplied: fixes.Supplied | None = None) -> None:
    """Patch the opened model in memory: each edited layer's params and weights (by key, in order)."""
    for key, group in by_layer(edits).items():
        spec = find_layer(mf.model, key)
        arrays = edited_arrays(spec, group, supplied)
        for i, array in arrays.items():
            spec.weights[i] = _constant(spec.weights[i], array)
        spec.params = fixes.edited_spec(group, spec).params


def _constant(ref: WeightRef, array: np.ndarray) -> WeightRef:
    """A WeightRef that loads `array` (the edited one) instead of the stored dataset."""
    return replace(ref, shape=tuple(array.shape), load=lambda: array)
