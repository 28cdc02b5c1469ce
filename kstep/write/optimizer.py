"""Provides what happens to the optimizer's saved state when `kstep fix` changes a weight: its slots (Adam's m and
v, momentum, ...) are transformed the same way when the edit only moves elements (a flip, a transpose, a row or
gate permutation) and each slot can be found by the weight's name (tf.keras 2 legacy .h5: `Adam/m/fc1/kernel:0`);
a weight with no slot (a moving variance) leaves the state as it is; otherwise the whole state is dropped, with a
note (Keras 2.2.4's `training/Adam/Variable_3:0` and Keras 3's `optimizer/vars/N` name no weight; a square root
of a variance has no slot counterpart). Never left inconsistent: a loader that compiles finds either transformed
slots or none.
"""

from __future__ import annotations

from typing import Sequence

import h5py
import numpy as np

from kstep.compare.fixes import apply_op
from kstep.edits import FixOp
from kstep.write.stored import StoredEdit

MOVES_ELEMENTS = frozenset({FixOp.FLIP_SPATIAL, FixOp.SWAP_ROWS_COLUMNS, FixOp.FLATTEN_ROWS, FixOp.PERMUTE_GATES})
"""Ops that only move elements, so an element-wise optimizer state moves with them."""


def _datasets(group: h5py.Group) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}

    def visit(name: str, obj: object) -> None:  # a non-None return would stop the visit
        if isinstance(obj, h5py.Dataset):
            found[name] = obj
    group.visititems(visit)
    return found


def _slots(datasets: dict[str, h5py.Dataset], edit: StoredEdit, weight_names: frozenset[str]) -> list[str] | None:
    """The slot datasets of one edited weight (named after it, same shape); None when a dataset of that shape is
    named after no weight of the model (the slots cannot be told apart)."""
    shape = edit.original.shape
    named = [n for n, ds in datasets.items() if edit.name and n.endswith("/" + edit.name) and ds.shape == shape]
    anonymous = [n for n, ds in datasets.items()
                 if ds.shape == shape and not any(n.endswith("/" + w) for w in weight_names)]
    return None if anonymous else named


def update_state(f: h5py.File, groups: Sequence[str], edits: Sequence[StoredEdit], weight_names: frozenset[str]
                 ) -> str | None:
    """Transform or drop the optimizer state under `groups` (those present) for the weight `edits`; weight_names:
    every stored weight name of the model. A note, or None when there is no state."""
    present = [g for g in groups if g in f]
    if not present or not edits:
        return None
    datasets = {f"{g}/{n}": ds for g in present for n, ds in _datasets(f[g]).items()}
    plan: list[tuple[str, StoredEdit]] = []
    movable = True
    for edit in edits:
        slots = _slots(datasets, edit, weight_names)
        if slots is None or (slots and not all(op.op in MOVES_ELEMENTS for op in edit.ops)):
            movable = False  # slots that cannot be told apart, or a weight with slots changed otherwise
            break
        plan += [(name, edit) for name in slots]
    if not movable:
        for g in present:
            del f[g]
        return ("the optimizer's saved state was dropped: its slots cannot be transformed with the weights (an edit "
                "that is not a rearrangement, or slots that name no weight); the model loads and compiles with a "
                "fresh optimizer state")
    for name, edit in plan:
        ds = datasets[name]
        slot = np.asarray(ds[()])
        for op in edit.ops:
            slot = apply_op(op, slot)
        ds[...] = slot.astype(ds.dtype, copy=False)
    return (f"the optimizer's saved state was kept: {len(plan)} slot(s) of the edited weights transformed the same "
            "way") if plan else None
