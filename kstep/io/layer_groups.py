"""Provides the one visit of a legacy Keras weights group (`model_weights`, or the root of a weights file):
`stored_by_layer` (every layer's datasets as `Stored`, checked, with lazy readers) and `weight_names_by_layer`
(the names only, the evidence for a backend the file does not state).

A 50,000-layer file holds ~125,000 HDF5 objects, and opening one as an h5py object and closing it costs ~40 us,
several times what HDF5 needs to read its header. So the common case is read from the weights group with paths:
the layers' own links are typed by one iteration of the weights group and each link below a layer is checked with
`links.get_info` (never an external link; nothing is opened for that), a layer's `weight_names` is sized by its
info and read by path (`h5a.open(..., obj_name=)`) only when it holds names, without opening its group, and only
datasets are opened, asked only what `h5safe.check_dataset_id` needs, and given a reader that knows their path.
The metadata cache is kept from growing on the walk's low hit rate (`_steady_cache`). Anything
else in a layer (a name with '/' or '.', a missing link, a `weight_names` that is not a 1-D array of byte strings,
an object that is not a dataset) is read again by the general path (`weights.stored_from_group` through
`h5safe.child` and `h5safe.check_dataset`), so every message and every refusal is the one that path gives.
"""

from __future__ import annotations

import h5py
import numpy as np

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.weights import Stored, keras0_params, stored_from_group

_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)
_DTYPE_NAMES: dict[np.dtype, str] = {}


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name


def _hard_or_soft(gid, key: bytes) -> bool:
    """Whether the last link of `key` (a path under `gid` whose earlier links were checked) exists and is not an
    external link (False also when it cannot be asked: the general path then says why)."""
    try:
        return gid.links.get_info(key).type != h5py.h5l.TYPE_EXTERNAL
    except _ERRORS:
        return False


def _link_types(gid) -> dict[bytes, int] | None:
    """{link name: link type} of every link in the group `gid`, from one iteration (~2 us a link, against ~9 us for
    asking one link's type by name); None when the group cannot be iterated (each link is then asked alone)."""
    types: dict[bytes, int] = {}
    try:
        gid.links.iterate(lambda name, info: types.__setitem__(name, info.type), info=True)
    except _ERRORS:
        return None
    return types


def _steady_cache(fid) -> None:
    """Keep HDF5's metadata cache from growing when its hit rate is low, as it is in this walk (each layer's headers
    are read once, so a bigger cache retains more without hitting more): 50,000 layers walked 8.2 -> 7.3 s of CPU,
    the process 180 -> 118 MiB (10,000 layers: 147 -> 70 MiB), measured with benchmarks/many_layers.py's files. An
    entry bigger than the cache (the weights group's heap of layer names, ~12 bytes a layer) still grows it: the
    flash increase stays on (without it a 1 MiB cache re-read that heap for every layer, 7x slower)."""
    try:
        config = fid.get_mdc_config()
        config.incr_mode = 0  # H5C_incr__off: no increase on the hit rate
        fid.set_mdc_config(config)
    except _ERRORS:
        pass  # a cache that cannot be configured still reads the same


def _layer_link_ok(gid, key: bytes, types: dict[bytes, int] | None) -> bool:
    """Whether the weights group's link `key` exists and is not an external link (`types`: from `_link_types`)."""
    if types is None:
        return _hard_or_soft(gid, key)
    kind = types.get(key)
    return kind is not None and kind != h5py.h5l.TYPE_EXTERNAL


def _names_by_path(gid, key: bytes, path: str) -> list[str] | None:
    """`weight_names` of the object at `key` (a checked path under `gid`) when it is empty or a 1-D array of byte
    strings (what Keras writes); None for anything else (absent, chunked, Keras 0.x, other types). An attribute
    that holds no bytes (a weightless layer's) is known empty from its info, without opening it."""
    try:
        if h5py.h5a.get_info(gid, name=b"weight_names", obj_name=key).data_size == 0:
            return []  # an empty array, or a null dataspace (h5safe.attr_list reads both as no names)
        attr = h5py.h5a.open(gid, b"weight_names", obj_name=key)
        shape = attr.shape
        if shape is not None and 0 in shape:
            return []  # Keras writes a weightless layer's empty list as an empty float64 array
        if shape is None or len(shape) != 1:
            return None
        tid = attr.get_type()  # (h5py's AttrID.dtype costs more than the rest of the read)
        if tid.get_class() != h5py.h5t.STRING or tid.is_variable_str() or tid.get_strpad() != h5py.h5t.STR_NULLPAD:
            return None
        arr = np.zeros(shape, f"S{tid.get_size()}")
        attr.read(arr, mtype=tid)  # numpy's |S is NULLPAD: the bytes as stored
    except _ERRORS:
        return None
    return [h5safe.to_str(v, "weight_names", path) for v in arr]


def _fast_layer(gid, key: bytes, names: list[str], prefix: bytes, fid, file_size: int, path: str,
                layer: str) -> list[Stored] | None:
    """The datasets of the layer group at `key` under `gid`, or None when some name or object needs the general
    path. prefix: the weights group's path from the file's root, ending in '/'."""
    checked = {key}
    out = []
    for wname in names:
        parts = wname.split("/")
        if not all(_plain(p) for p in parts):
            return None
        full = key
        for part in parts:
            full += b"/" + part.encode("utf-8")
            if full not in checked:
                if not _hard_or_soft(gid, full):
                    return None
                checked.add(full)
        try:  # (H5Dopen: ~15% less than H5Oopen; anything but a dataset fails here and goes the general path)
            did = h5py.h5d.open(gid, full)
        except _ERRORS:
            return None
        what = f"weight '{wname}' of layer '{layer}'"
        shape, dtype = h5safe.check_dataset_id(did, file_size, path, what)
        out.append(Stored(wname, shape, _dtype_name(dtype), h5safe.reader_at(fid, prefix + full, path, what)))
    return out


def _dtype_name(dtype: np.dtype) -> str:
    """str(dtype), remembered (numpy's takes ~10 us, and a file has a handful of dtypes)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def _key(name: str) -> bytes | None:
    """The link name of a plain layer name, or None (the general path takes it)."""
    if not _plain(name):
        return None
    try:
        return name.encode("utf-8")
    except UnicodeError:
        return None


def stored_by_layer(group: h5py.Group, layer_names: list[str], path: str) -> dict[str, list[Stored]]:
    """{layer name: its datasets in stored order} for every name in `layer_names`; a name without a group, a
    weight without a dataset or a refused dataset is a BadInput."""
    gid = group.id
    try:
        fid = h5py.h5i.get_file_id(gid)
        file_size = fid.get_filesize()
        prefix = (h5py.h5i.get_name(gid) or b"/").rstrip(b"/") + b"/"
    except _ERRORS as exc:
        raise BadInput(f"weights group cannot be read ({exc})", path=path) from None
    _steady_cache(fid)
    by_name: dict[str, list[Stored]] = {}
    types = _link_types(gid)
    for name in layer_names:
        stored = None
        key = _key(name)
        if key is not None and _layer_link_ok(gid, key, types):
            names = _names_by_path(gid, key, path)
            if names is not None:
                stored = _fast_layer(gid, key, names, prefix, fid, file_size, path, name)
        if stored is None:  # the general path
            g = h5safe.child(group, name, path, "weights group")
            if g is None:
                raise BadInput(f"layer_names lists '{name}' but the file has no such group", path=path)
            wnames = h5safe.attr_list(g, "weight_names", path)
            if wnames is None:
                wnames = keras0_params(g, path, name)
            stored = stored_from_group(g, wnames or [], path, name)
        by_name[name] = stored
    return by_name


def weight_names_by_layer(group: h5py.Group, layer_names: list[str], path: str) -> list[str]:
    """Every weight name the weights group lists, in order (names without a group are skipped); no dataset is
    opened."""
    gid = group.id
    out: list[str] = []
    types = _link_types(gid)
    for name in layer_names:
        key = _key(name)
        names = _names_by_path(gid, key, path) if key is not None and _layer_link_ok(gid, key, types) else None
        if names is None:  # the general path
            g = h5safe.child(group, name, path, "weights group")
            if g is not None and hasattr(g, "attrs"):
                names = h5safe.attr_list(g, "weight_names", path)
        out.extend(names or [])
    return out
