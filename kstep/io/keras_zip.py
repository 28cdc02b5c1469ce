"""Provides reading of Keras 3 `.keras` archives (zip: config.json, metadata.json, model.weights.h5), `attach_keras3`
for weights in the Keras 3 layout (`layers/<snake_case class>[_n]/vars/<i>`, also a `.weights.h5` beside an
architecture JSON), and `parse_json`, the guarded JSON parse every format's config goes through (for an
architecture JSON also the JSON-string and Keras 0.x forms).

Nothing is extracted to disk. Member sizes and compression ratios are checked before a member is read, so a
hostile archive cannot exhaust memory; member names are only looked up, never used as paths.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from typing import Any

import h5py

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.keras0 import from_keras0, is_keras0
from kstep.io.weights import Stored, assign
from kstep.io.zip_tree import SUB_ORDER, attach_tf_keras
from kstep.ir import Fact, ModelSpec
from kstep.semantics import Generation, Semantics

MAX_JSON_BYTES = 64 * 2**20
MAX_WEIGHTS_BYTES = 16 * 2**30
MAX_RATIO = 200
MAX_GROUP_DEPTH = 128  # groups under one layer's weights (nested wrappers and cells nest a few)
MAX_JSON_DEPTH = 200  # real configs nest < 60 levels; deeper JSON would only exhaust recursion downstream
ARCHITECTURE = "architecture JSON"  # parse_json's `what` for an architecture .json file


def member_info(zf: zipfile.ZipFile, name: str, limit: int, path: str) -> zipfile.ZipInfo | None:
    """The member's entry after the checks made before reading it (size limit, compressed size, ratio); None when
    the archive has no such member."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise BadInput(f"archive member {name} declares {info.file_size} bytes, over the limit of {limit}",
                       path=path)
    if info.compress_size > _archive_size(zf):
        raise BadInput(f"archive member {name} declares {info.compress_size} compressed bytes, more than the "
                       "archive holds", path=path)
    if info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_RATIO and info.file_size > 2**20:
        raise BadInput(f"archive member {name} has a compression ratio over {MAX_RATIO}: refused (zip bomb?)",
                       path=path)
    return info


def read_member(zf: zipfile.ZipFile, name: str, limit: int, path: str) -> bytes | None:
    """The member's bytes after `member_info`'s checks; None when the archive has no such member."""
    info = member_info(zf, name, limit, path)
    if info is None:
        return None
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise BadInput(f"archive member {name} cannot be read ({exc})", path=path) from None
    if len(data) > limit:
        raise BadInput(f"archive member {name} is larger than declared", path=path)
    return data


def _archive_size(zf: zipfile.ZipFile) -> int:
    """The archive file's size in bytes (2**63 when it cannot be told)."""
    try:
        if zf.fp is None:
            return 2**63
        return os.fstat(zf.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return 2**63


def open_keras_zip(path: str, read_weights: bool = True) -> tuple[Any, dict[str, Any], h5py.File | None]:
    """-> (config dict, metadata dict, open weights HDF5 file) of a .keras archive; without `read_weights` the
    weights member is only checked (present, plausible sizes) and None stands for the file."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(f"is not a readable .keras zip archive ({exc})", path=path) from None
    with zf:
        cfg_bytes = read_member(zf, "config.json", MAX_JSON_BYTES, path)
        if cfg_bytes is None:
            raise BadInput("the .keras archive has no config.json", path=path)
        meta_bytes = read_member(zf, "metadata.json", MAX_JSON_BYTES, path) or b"{}"
        weights: bytes | None = None
        if read_weights:
            weights = read_member(zf, "model.weights.h5", MAX_WEIGHTS_BYTES, path)
            present = weights is not None
        else:
            present = member_info(zf, "model.weights.h5", MAX_WEIGHTS_BYTES, path) is not None
        if not present:
            if "model.weights.npz" in zf.namelist():
                raise BadInput("the .keras archive stores its weights as model.weights.npz; only model.weights.h5 "
                               "is supported", path=path)
            raise BadInput("the .keras archive has no model.weights.h5", path=path)
    config = parse_json(cfg_bytes, "config.json", path)
    meta = parse_json(meta_bytes, "metadata.json", path)
    meta = meta if isinstance(meta, dict) else {}
    return config, meta, (h5safe.open_h5_bytes(weights, path) if weights is not None else None)


def zip_version(config: Any, meta: dict[str, Any]) -> tuple[str | None, str]:
    """The Keras version that wrote a .keras archive and where it was read: metadata.json's keras_version. Without
    one (a .keras zip is never Keras 1, what a missing version means in HDF5): tf.keras 2 when the model's `module`
    is `keras.src.engine.*` (2.13-2.15 functional; 2.12: `keras.engine.*`) or an InputLayer stores
    `batch_input_shape` (Keras 3 stores `batch_shape`), read as the first version of that module; else Keras 3."""
    version = meta.get("keras_version")
    if isinstance(version, str):
        return version, "metadata.json keras_version"
    module = config.get("module") if isinstance(config, dict) else None
    module = module if isinstance(module, str) and len(module) < 200 else ""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    shapes = {key for layer in (layers if isinstance(layers, list) else [])[:10_000] if isinstance(layer, dict)
              and layer.get("class_name") == "InputLayer" and isinstance(layer.get("config"), dict)
              for key in ("batch_input_shape", "batch_shape") if key in layer["config"]}
    if module.startswith(("keras.src.engine.", "keras.engine.")) or shapes == {"batch_input_shape"}:
        first = "2.12.0" if module.startswith("keras.engine.") else "2.13.0"
        why = f"module {module!r}" if module.startswith(("keras.src.engine.", "keras.engine.")) else \
            "InputLayer batch_input_shape"
        return first, (f"config.json {why}: tf.keras 2.12-2.15 (metadata.json has no keras_version: read as "
                       f"{first}; a 2.14 file needs --assume keras_version=2.14.0)")
    return "3.0.0", "metadata.json has no keras_version and config.json shows no tf.keras 2: read as Keras 3.0.0"


def parse_json(data: bytes | str, what: str, path: str, notes: list[str] | None = None) -> Any:
    """JSON text -> object; invalid, non-UTF-8 or absurdly nested JSON is one BadInput.

    An architecture JSON (`what` == ARCHITECTURE) is also read in two older forms, each recorded in `notes` (facts
    via kstep.io.keras0.note_facts): a JSON document whose content is a JSON string holding the model JSON
    (`json.dump(model.to_json(), f)`), decoded once; and Keras 0.x's layer list (kstep.io.keras0).
    """
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        value = json.loads(data)
    except RecursionError:
        raise BadInput(f"{what} is nested too deeply to be a model config", path=path) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{what} is not valid JSON ({str(exc).splitlines()[0][:120]})", path=path) from None
    if _depth_over(value, MAX_JSON_DEPTH):
        raise BadInput(f"{what} is nested too deeply to be a model config (over {MAX_JSON_DEPTH} levels)",
                       path=path)
    if what != ARCHITECTURE:
        return value
    notes = [] if notes is None else notes
    if isinstance(value, str):  # no larger than the file, which the caller bounded
        value = parse_json(value, f"{ARCHITECTURE} (a JSON string holding the model JSON)", path)
        if isinstance(value, str):
            raise BadInput(f"{ARCHITECTURE} is a JSON string holding another JSON string; only one level of "
                           "encoding is decoded", path=path)
        notes.append(f"{ARCHITECTURE} was a JSON string; decoded")
    if is_keras0(value):
        value = from_keras0(value, path, notes)
    return value


def _depth_over(value: Any, limit: int) -> bool:
    """True when `value` nests lists/dicts deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def snake_case(name: str) -> str:
    """Keras 3's `naming.to_snake_case`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _vars_of(group: h5py.Group, path: str, layer: str, seen: set[tuple[int, int]], depth: int = 0) -> list[Stored]:
    """Every variable under an object's group: its own vars/0.. first, then sub-objects in Keras's walk order.

    `seen` holds the groups already walked in this file: Keras writes every object once, so a group reached again
    (through a second hard link: a DAG or a cycle of links) is refused instead of walked once per path."""
    if not isinstance(group, h5py.Group):
        raise BadInput(f"weights entry {group.name} of layer '{layer}' is not a group", path=path)
    if depth > MAX_GROUP_DEPTH:
        raise BadInput(f"the weights of layer '{layer}' nest groups more than {MAX_GROUP_DEPTH} deep", path=path)
    key_of = h5safe.object_key(group, path, f"weights group {group.name}")
    if key_of in seen:
        raise BadInput(f"weights group {group.name} is reached through more than one hard link (a loop or "
                       "shared subtree Keras never writes); refused", path=path)
    seen.add(key_of)
    out: list[Stored] = []
    vars_group = h5safe.child(group, "vars", path, "group")
    if vars_group is not None:
        keys = sorted(vars_group.keys(), key=lambda k: (0, int(k)) if k.isdigit() else (1, k))
        for key in keys:
            ds = h5safe.child(vars_group, key, path, f"variable of '{layer}'")
            h5safe.check_dataset(ds, path, f"variable {key} of layer '{layer}'")
            out.append(Stored(f"{group.name}/vars/{key}", tuple(int(d) for d in ds.shape), str(ds.dtype),
                              h5safe.reader(ds, path, f"variable {key} of '{layer}'")))
    preferred = list(SUB_ORDER)
    keys = list(group.keys())  # names only: `name in group` would resolve (and follow) external links
    others = sorted(k for k in keys if k not in preferred and k != "vars")
    for key in [k for k in preferred if k in keys] + others:
        sub = h5safe.child(group, key, path, "group")
        if hasattr(sub, "keys"):
            out.extend(_vars_of(sub, path, layer, seen, depth + 1))
    return out


def attach_keras3(model: ModelSpec, group: h5py.Group, sem: Semantics, path: str, facts: list[Fact],
                  seen: set[tuple[int, int]] | None = None,
                  walked: dict[tuple[int, int], list[Stored]] | None = None) -> None:
    """Attach weights from a model.weights.h5 group holding `layers/<snake_class>[_n]/...` to every layer; `seen`:
    the groups already walked (each is walked once per file), `walked`: the variables of each layer group walked.

    A file tf.keras 2 wrote (2.12-2.15's zip, tf_keras 2.16+) goes to kstep.io.zip_tree, which follows that
    version's object-tree naming (tf.keras's snake case, `_layer_checkpoint_dependencies`, Windows separators)."""
    if seen is None and sem.generation is Generation.TF_KERAS:
        attach_tf_keras(model, group, sem, path, facts)
        return
    seen = set() if seen is None else seen
    walked = {} if walked is None else walked
    layers_group = h5safe.child(group, "layers", path, "group")
    if layers_group is None:
        layers_group = h5safe.child(group, "_layer_checkpoint_dependencies", path, "group")
    by_var_name = {}
    if layers_group is not None:
        for key in layers_group.keys():
            sub = h5safe.child(layers_group, key, path, "group")
            vg = h5safe.child(sub, "vars", path, "group") if hasattr(sub, "keys") else None
            if vg is not None:
                stored_name = h5safe.attr_str(vg, "name", path)
                if stored_name:
                    by_var_name[stored_name] = key
    counts: dict[str, int] = {}
    for spec in model.layers:
        if spec.kind == "InputLayer":
            continue
        base = snake_case(spec.class_name)
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = by_var_name.get(spec.name) or (base if n == 0 else f"{base}_{n}")
        sub = h5safe.child(layers_group, key, path, "group") if layers_group is not None else None
        if spec.inner is not None:  # a nested model
            if sub is not None:
                attach_keras3(spec.inner, sub, sem, path, facts, seen, walked)
                spec.weights = [w for inner in spec.inner.layers for w in inner.weights]
            continue
        stored: list[Stored] = []
        if sub is not None:
            where = h5safe.object_key(sub, path, f"weights group {key}")
            if where not in walked:  # two layers may take one group (as before): walk it once
                walked[where] = _vars_of(sub, path, spec.name, seen)
            stored = list(walked[where])
        assign(spec, stored, sem, path, facts)


