"""Provides what an `Edit` (kstep.edits) does to NEW's layer: the transformed weight arrays and the edited spec.

One function per direction, used both by the diagnosis (its re-run applies exactly these arrays, so a verified
hypothesis's edits are the fix that was verified) and by `kstep fix` (which patches NEW's file in memory, re-runs,
and writes the same arrays). Every op reads NEW's own array only. Arrays keep their dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from kstep.compare.effective import flip_spatial, permute_gates
from kstep.compare.layout import Tag, dense_rows_to_old
from kstep.edits import Edit, FixOp
from kstep.ir import LayerSpec


def flatten_rows_args(from_tag: Tag, to_tag: Tag) -> tuple[object, ...]:
    """FLATTEN_ROWS's arguments: a Dense kernel's rows read a Flatten of `from_tag`'s order; make them read
    `to_tag`'s (both flat tags of the same spatial size)."""
    return (from_tag.order, to_tag.order, to_tag.channels, *to_tag.spatial)


def _flat(order: object, channels: object, spatial: Sequence[object]) -> Tag:
    return Tag("flat", order=str(order), channels=int(str(channels)), spatial=tuple(int(str(s)) for s in spatial))


def apply_op(edit: Edit, array: np.ndarray) -> np.ndarray:
    """One weight op on one canonical array (NEW's), in its dtype."""
    op, dtype = edit.op, array.dtype
    if op is FixOp.FLIP_SPATIAL:
        out = flip_spatial(array)
    elif op is FixOp.SWAP_ROWS_COLUMNS:
        out = np.ascontiguousarray(np.swapaxes(array, 0, 1))
    elif op is FixOp.FLATTEN_ROWS:
        source, target, channels, *spatial = edit.args
        out = dense_rows_to_old(array, _flat(target, channels, spatial), _flat(source, channels, spatial))
    elif op is FixOp.PERMUTE_GATES:
        perm = tuple(int(str(p)) for p in edit.args)
        out = permute_gates(array, perm, len(perm))
    elif op is FixOp.SQRT:
        out = np.sqrt(np.maximum(array.astype(np.float64), 0))
    elif op is FixOp.SQUARE:
        out = np.square(array.astype(np.float64))
    elif op is FixOp.SUM_GRU_BIASES:
        out = array.astype(np.float64).sum(axis=0) if array.ndim == 2 else array
    else:
        raise ValueError(f"{op.name} is not a weight op")
    return np.ascontiguousarray(out, dtype=dtype)


Supplied = Mapping[tuple[str, int], np.ndarray]
"""OLD_WEIGHTS's arrays: (NEW's layer key, canonical weight index) -> the array (OLD's, in NEW's form)."""


def edited_weights(edits: Sequence[Edit], weights: Sequence[np.ndarray], supplied: Supplied | None = None
                   ) -> list[np.ndarray]:
    """`weights` (one layer's canonical arrays) with every weight edit applied in order; OLD_WEIGHTS takes its
    arrays from `supplied` (KeyError when missing)."""
    out = list(weights)
    for edit in edits:
        for i in edit.weights:
            if edit.op is FixOp.OLD_WEIGHTS:
                out[i] = np.ascontiguousarray((supplied or {})[(edit.layer, i)], dtype=out[i].dtype)
            else:
                out[i] = apply_op(edit, out[i])
    return out


def edited_spec(edits: Sequence[Edit], spec: LayerSpec) -> LayerSpec:
    """`spec` with every config edit's key set (a copy; `spec` itself is untouched)."""
    params = {e.key: e.value for e in edits if e.is_config}
    return dataclasses.replace(spec, params=dict(spec.params, **params)) if params else spec
