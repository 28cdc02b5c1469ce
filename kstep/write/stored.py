"""Provides the weight half of a repair plan: each edited canonical weight of NEW resolved to the HDF5 dataset that
stores it, with the array to write there, and the writing itself (h5py, in a copy of NEW's file).

Where a weight is stored follows the reader: a legacy .h5 (or architecture JSON + weights) keeps a layer's arrays
under `<weights group>/<top-level layer>/<weight name>`; a Keras 3 weights file under the path the reader recorded
as the name. A weight is written only when its dataset holds exactly the canonical array (no layout conversion sits
between them: Keras 1 per-gate or 'th' arrays are refused, `CannotWrite`); the check reads the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import h5py
import numpy as np

from kstep.compare.fixes import Supplied
from kstep.edits import Edit
from kstep.ir import LayerSpec, ModelFile
from kstep.repair.patch import by_layer, edited_arrays, find_path
from kstep.write.configs import CannotWrite


@dataclass(frozen=True)
class StoredEdit:
    """One dataset to rewrite: its absolute path in the weights file, the canonical array it holds now (NEW's) and
    the array to write (same dtype; the shape may change, e.g. a GRU bias summed to one row)."""

    location: str
    layer: str
    original: np.ndarray
    array: np.ndarray
    name: str = ""  # the weight's stored name (legacy: 'fc1/kernel:0'), which a legacy optimizer slot ends with
    ops: tuple[Edit, ...] = ()  # the edits that made `array` from `original`, in order


def weight_edits(mf: ModelFile, edits: Sequence[Edit], layer_group_root: str | None,
                 supplied: Supplied | None = None) -> list[StoredEdit]:
    """The datasets `edits` change. layer_group_root: the legacy weights group's path ('/model_weights' or '/');
    None for a Keras 3 weights file, whose reader names each weight by its absolute path."""
    out = []
    for key, group in by_layer(edits).items():
        path = find_path(mf.model, key)
        spec: LayerSpec = path[-1]
        for i, array in edited_arrays(spec, group, supplied).items():
            ref = spec.weights[i]
            if "+" in ref.name or len(ref.stored_shapes) != 1:
                raise CannotWrite(f"kstep fix cannot write {key}'s weight {ref.name!r}: NEW stores it as several "
                                  "Keras 1 arrays", path=mf.path)
            if layer_group_root is None:
                location = ref.name if ref.name.startswith("/") else "/" + ref.name
            else:
                location = f"{layer_group_root.rstrip('/')}/{path[0].name}/{ref.name}"
            ops = tuple(e for e in group if i in e.weights)
            out.append(StoredEdit(location, key, ref.load(), array, ref.name, ops))
    return out


def write_weights(f: h5py.File, edits: Sequence[StoredEdit], path: str) -> None:
    """Rewrite each dataset in the open (writable) weights file; a dataset that does not hold the canonical
    array as stored is CannotWrite."""
    for edit in edits:
        ds = f.get(edit.location)
        if not isinstance(ds, h5py.Dataset):
            raise CannotWrite(f"kstep fix cannot find {edit.layer}'s weight at {edit.location}", path=path)
        stored = ds[()]
        if stored.shape != edit.original.shape or not np.array_equal(stored, edit.original, equal_nan=True):
            raise CannotWrite(f"kstep fix cannot write {edit.layer}'s weight {edit.location}: NEW stores it in "
                              "another layout than the one kstep computes with (a Keras 1 conversion)", path=path)
        data = edit.array.astype(ds.dtype, copy=False)
        if data.shape == ds.shape:
            ds[...] = data
            continue
        attrs = dict(ds.attrs)
        parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
        del parent[name]
        fresh = parent.create_dataset(name, data=data)
        for key, value in attrs.items():
            fresh.attrs[key] = value
