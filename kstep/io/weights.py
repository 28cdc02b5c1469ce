"""Provides weight attachment: stored weight datasets -> lazily loaded `WeightRef`s in canonical layout.

For every layer with weights, the stored datasets are found by their verbatim names (`weight_names`, or Keras 0.x's
`param_<n>`), checked (count and names from `KindInfo.weight_names`; the shapes the config fixes, by the kind's
`KindInfo.shapes` rule, from metadata alone; no external storage), and wrapped in a `WeightRef` whose `load()` reads
and converts on first use. Keras 1 layouts are converted here, once, each conversion recorded in
`WeightRef.transform` (§3.2 of ../shared/docs/keras-formats.md): per-gate LSTM (i,c,f,o) and GRU (z,r,h) arrays
concatenated in canonical order, 'th' kernels transposed to (..spatial, in, out), Keras 1 Conv1D's dummy axis
dropped. A kernel is never flipped here: that is an execution fact (Theano convolves) that the engine applies from
`Semantics`. Nested models' weights are matched to their layers by name, else by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import h5py
import numpy as np

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.keras0 import keras0_param_names
from kstep.ir import Fact, LayerSpec, ModelSpec, Source, WeightRef
from kstep.kinds import KINDS, info, weight_names_of
from kstep.semantics import Semantics


@dataclass
class Stored:
    """One stored dataset: its name, shape, dtype and a reader."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    read: Callable[[], np.ndarray]


def stored_from_group(group: h5py.Group, names: list[str], path: str, layer: str) -> list[Stored]:
    """The datasets named in `names` inside `group` (names nest groups at '/')."""
    out = []
    for wname in names:
        ds = h5safe.resolve(group, wname, path, f"weight '{wname}' of layer '{layer}'")
        if ds is None:
            raise BadInput(f"layer '{layer}' lists weight '{wname}' but the file has no such dataset", path=path)
        what = f"weight '{wname}' of layer '{layer}'"
        h5safe.check_dataset(ds, path, what)
        out.append(Stored(wname, tuple(int(d) for d in ds.shape), str(ds.dtype),
                          h5safe.reader(ds, path, what)))
    return out


def expected_names(spec: LayerSpec) -> list[str] | None:
    """Canonical weight names the layer needs (KindInfo.weight_names), or None when kstep does not check the kind
    (anything is accepted)."""
    return weight_names_of(spec.kind, spec.params)


# --- Keras 1 conversions ----------------------------------------------------------------------------------------


def _concat_gates(stored: list[Stored], order: tuple[int, ...], what: str,
                  kernel_axis: int = -1) -> list[WeightRef]:
    """Keras 1 per-gate arrays [W_g, U_g, b_g] per gate -> kernel, recurrent_kernel, bias; `order`: the stored gate
    index of each canonical gate.

    kernel_axis: where the gates' output units lie in W and U (-1; 0 for 'th' ConvLSTM2D's (out, in, r, c))."""
    out = []
    for j, cname in enumerate(("kernel", "recurrent_kernel", "bias")):
        parts = [stored[3 * g + j] for g in order]
        axis = kernel_axis if j < 2 else -1
        shape = list(parts[0].shape)
        shape[axis] = sum(s.shape[axis] for s in parts)
        out.append(WeightRef(
            name="+".join(s.name for s in parts), shape=tuple(shape), dtype=parts[0].dtype,
            stored_shapes=tuple(s.shape for s in parts),
            load=partial(_concatenated, parts, axis),
            transform=f"Keras 1 per-gate {what} arrays concatenated as {cname}"))
    return out


def _concatenated(parts: list[Stored], axis: int) -> np.ndarray:
    return np.concatenate([s.read() for s in parts], axis=axis)


def _plain(s: Stored) -> WeightRef:
    return WeightRef(s.name, s.shape, s.dtype, (s.shape,), s.read)


def _transposed(s: Stored, axes: tuple[int, ...], why: str) -> WeightRef:
    shape = tuple(s.shape[a] for a in axes)
    return WeightRef(s.name, shape, s.dtype, (s.shape,),
                     (lambda: np.ascontiguousarray(np.transpose(s.read(), axes))),
                     transform=f"{why}: transpose{axes}")


def convert(spec: LayerSpec, stored: list[Stored], sem: Semantics) -> list[WeightRef]:
    """Stored arrays of one (non-wrapper, non-model) layer -> canonical WeightRefs."""
    if sem.keras1_weight_layouts:
        return _from_keras1(spec, stored)
    return [_plain(s) for s in stored]


def _from_keras1(spec: LayerSpec, stored: list[Stored]) -> list[WeightRef]:
    """Keras 1 layouts -> canonical, as Keras 2.2.4's loader converted them (§3.2); other arrays pass unchanged."""
    k = spec.kind
    cf = spec.params.get("data_format") == "channels_first"
    gates = KINDS[k].keras1_gates if k in KINDS else ()  # Keras 1's per-gate arrays [W_g, U_g, b_g, ...]
    if gates and len(stored) == 3 * len(gates):
        order = tuple(gates.index(g) for g in KINDS[k].gates)
        refs = _concat_gates(stored, order, ",".join(gates), 0 if k == "ConvLSTM2D" and cf else -1)
        if k == "ConvLSTM2D" and cf:
            refs[0] = _transposed_ref(refs[0], (2, 3, 1, 0), "Keras 1 'th' kernel (out,in,r,c)")
            refs[1] = _transposed_ref(refs[1], (2, 3, 1, 0), "Keras 1 'th' kernel (out,in,r,c)")
        return refs
    out = [_plain(s) for s in stored]
    if out and k == "Conv1D" and len(stored[0].shape) == 4:
        s = stored[0]
        if s.shape[1] == 1:
            out[0] = WeightRef(s.name, (s.shape[0], s.shape[2], s.shape[3]), s.dtype, (s.shape,),
                               partial(_conv1d_kernel, s, False),
                               transform="Keras 1 Conv1D kernel (k,1,in,out): dummy axis dropped")
        else:
            out[0] = WeightRef(s.name, (s.shape[2], s.shape[1], s.shape[0]), s.dtype, (s.shape,),
                               partial(_conv1d_kernel, s, True),
                               transform="Keras 1.0.x Conv1D kernel (out,in,k,1): transpose(2,3,1,0), "
                                         "dummy axis dropped")
    elif out and cf and k == "Conv2D" and len(stored[0].shape) == 4:
        out[0] = _transposed(stored[0], (2, 3, 1, 0), "Keras 1 'th' kernel (out,in,r,c) -> (r,c,in,out)")
    elif out and cf and k == "Conv3D" and len(stored[0].shape) == 5:
        out[0] = _transposed(stored[0], (2, 3, 4, 1, 0), "Keras 1 'th' kernel (out,in,d1,d2,d3)")
    elif out and k == "Conv2DTranspose" and len(stored[0].shape) == 4:
        axes = (2, 3, 0, 1) if cf else (0, 1, 3, 2)
        out[0] = _transposed(stored[0], axes, f"Keras 1 Deconvolution2D '{'th' if cf else 'tf'}' kernel")
    elif out and k == "BatchNormalization" and len(stored) == 4:
        s = stored[3]
        out[3] = WeightRef(s.name, s.shape, s.dtype, (s.shape,), s.read,
                           transform="Keras 1 running_std holds the moving variance (Keras >= 1.0.6)")
    return out


def _conv1d_kernel(s: Stored, keras10: bool) -> np.ndarray:
    """Keras 1 Conv1D kernel -> (k, in, out): (k, 1, in, out) loses its dummy axis; Keras 1.0.x's (out, in, k, 1) is
    transposed (2, 3, 1, 0) first (§3.2)."""
    w = s.read()
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0))[:, 0] if keras10 else w[:, 0, :, :])


def _transposed_ref(ref: WeightRef, axes: tuple[int, ...], why: str) -> WeightRef:
    load = ref.load
    return WeightRef(ref.name, tuple(ref.shape[a] for a in axes), ref.dtype, ref.stored_shapes,
                     (lambda: np.ascontiguousarray(np.transpose(load(), axes))),
                     transform=f"{ref.transform}; {why}: transpose{axes}")


def assign(spec: LayerSpec, stored: list[Stored], sem: Semantics, path: str, facts: list[Fact]) -> None:
    """Attach `stored` (this layer's datasets in stored order) to `spec`, recursing into wrappers and models."""
    if spec.kind == "Model":
        _assign_nested(spec, stored, sem, path, facts)
        return
    if spec.kind == "Bidirectional" and len(spec.wrapped) == 2:
        half = len(stored) // 2
        if len(stored) % 2:
            raise BadInput(f"layer '{spec.name}' (Bidirectional) has {len(stored)} weights, not an even number",
                           path=path)
        assign(spec.wrapped[0], stored[:half], sem, path, facts)
        assign(spec.wrapped[1], stored[half:], sem, path, facts)
        spec.weights = spec.wrapped[0].weights + spec.wrapped[1].weights
        return
    if spec.kind == "TimeDistributed" and spec.wrapped:
        assign(spec.wrapped[0], stored, sem, path, facts)
        spec.weights = list(spec.wrapped[0].weights)
        return
    refs = convert(spec, stored, sem)
    expected = expected_names(spec)
    if expected is not None and len(refs) != len(expected):
        need = " and ".join(expected) if expected else "no weights"
        opts = f" with use_bias={spec.params.get('use_bias', True)}" if "bias" in expected or "use_bias" in \
            spec.params else ""
        raise BadInput(f"layer '{spec.name}' has {len(stored)} weights, {spec.kind}{opts} needs {need}", path=path)
    check_shapes(spec, refs, path)
    spec.weights = refs
    if spec.kind == "PReLU" and refs and "shared_axes" not in spec.params:
        shared = [i + 1 for i, d in enumerate(refs[0].shape) if d == 1] or None
        spec.params["shared_axes"] = shared
        facts.append(Fact(f"layer.{spec.name}.shared_axes", shared, Source.ASSUMED,
                          f"Keras 1 did not store shared_axes; alpha shape {refs[0].shape} has 1 on these axes"))


def check_shapes(spec: LayerSpec, refs: list[WeightRef], path: str) -> None:
    """Refuse weights whose shapes contradict the layer's own config (units, filters, kernel_size, ...) or each
    other, by the kind's rule in the table (`KindInfo.shapes`, kstep.weight_shapes); metadata only, no array read.

    Only what the config alone fixes is checked (not the input width, which depends on the graph).
    """
    record = info(spec.kind)
    if record is None or record.shapes is None or spec.unsupported:
        return
    names = record.weight_names(spec.params)
    if names is None or len(names) != len(refs):
        names = [str(i) for i in range(len(refs))]
    by_name = dict(zip(names, refs))
    for wname, ok, wanted in record.shapes(spec.params, {n: tuple(r.shape) for n, r in by_name.items()}):
        if not ok:
            ref = by_name[wname]
            raise BadInput(f"layer '{spec.name}' ({spec.kind}): weight '{ref.name}' has shape {tuple(ref.shape)}, "
                           f"its config needs {wanted}", path=path)


def count_needed(spec: LayerSpec) -> int | None:
    """How many stored arrays a layer consumes (None when unknown)."""
    if spec.inner is not None:  # a nested model
        total = 0
        for inner in spec.inner.layers:
            n = count_needed(inner)
            if n is None:
                return None
            total += n
        return total
    if spec.kind == "Bidirectional":
        counts = [count_needed(w) for w in spec.wrapped]
        return sum(c for c in counts if c is not None) if None not in counts else None
    if spec.kind == "TimeDistributed" and spec.wrapped:
        return count_needed(spec.wrapped[0])
    names = expected_names(spec)
    return None if names is None else len(names)


def _assign_nested(spec: LayerSpec, stored: list[Stored], sem: Semantics, path: str, facts: list[Fact]) -> None:
    """A nested model's group holds every inner layer's weights: match them by name, else split by count."""
    assert spec.inner is not None
    inner = [layer for layer in spec.inner.layers if layer.kind != "InputLayer"]
    buckets: dict[str, list[Stored]] = {layer.name: [] for layer in inner}
    names_sorted = sorted(buckets, key=len, reverse=True)
    matched = True
    for s in stored:
        owner = _owner(s.name, names_sorted)
        if owner is None:
            matched = False
            break
        buckets[owner].append(s)
    if matched:
        for layer in inner:
            if buckets[layer.name] or count_needed(layer) in (0, None):
                assign(layer, buckets[layer.name], sem, path, facts)
            else:
                assign(layer, [], sem, path, facts)
    else:
        _assign_positional(inner, stored, sem, path, facts, spec.name)
    spec.weights = [w for layer in inner for w in layer.weights]


def _owner(wname: str, names_by_length: list[str]) -> str | None:
    parts = wname.split("/")
    for name in names_by_length:
        if name in parts[:-1]:
            return name
    base = parts[-1]
    for name in names_by_length:
        if base.startswith(name + "_"):
            return name
    return None


def _assign_positional(inner: list[LayerSpec], stored: list[Stored], sem: Semantics, path: str, facts: list[Fact],
                       model_name: str) -> None:
    """Trainable weights of every inner layer first, then the non-trainable ones (Keras's nested order)."""
    counts = []
    for layer in inner:
        n = count_needed(layer)
        if n is None:
            raise BadInput(f"nested model '{model_name}': cannot tell which weights belong to layer "
                           f"'{layer.name}' ({layer.kind})", path=path)
        counts.append(n)
    if sum(counts) != len(stored):
        raise BadInput(f"nested model '{model_name}' has {len(stored)} weights, its layers need {sum(counts)}",
                       path=path)
    pos = 0
    for layer, n in zip(inner, counts):
        assign(layer, stored[pos:pos + n], sem, path, facts)
        pos += n


def keras0_params(group: h5py.Group, path: str, layer: str) -> list[str] | None:
    """A Keras 0.x weights group's datasets `param_<n>` (attribute `nb_params`), or None when it has no such
    attribute (kstep.io.keras0)."""
    try:
        if "nb_params" not in group.attrs:
            return None
        count = group.attrs["nb_params"]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"weights group '{layer}': attribute nb_params cannot be read ({exc})", path=path) from None
    names = keras0_param_names(count)
    if names is None:
        raise BadInput(f"weights group '{layer}': nb_params {str(count)[:40]} is not a parameter count", path=path)
    return names


def attach_h5(model: ModelSpec, by_name: dict[str, list[Stored]], layer_names: list[str], sem: Semantics,
              path: str, facts: list[Fact]) -> None:
    """Attach weights to every layer from a Keras weights group's datasets, read by
    `kstep.io.layer_groups.stored_by_layer` ({group name: its datasets}; `layer_names`: the groups in order)."""
    with_weights = [layer for layer in model.layers if layer.kind != "InputLayer"]
    unmatched = [layer for layer in with_weights if layer.name not in by_name]
    stored_nonempty = [n for n in layer_names if by_name[n]]
    if any(count_needed(layer) != 0 for layer in unmatched) and unmatched:
        need = [layer for layer in with_weights if count_needed(layer) != 0]
        if len(need) == len(stored_nonempty) and all(layer.name not in by_name or not by_name[layer.name]
                                                      for layer in unmatched):
            # Keras loads by position: the i-th group with weights goes to the i-th layer that has weights.
            facts.append(Fact("weights.matching", "by position", Source.ASSUMED,
                              "weight group names do not match the layer names; Keras loads by position"))
            for layer, gname in zip(need, stored_nonempty):
                assign(layer, by_name[gname], sem, path, facts)
            return
        missing = [layer.name for layer in unmatched if count_needed(layer) != 0]
        if missing:
            raise BadInput(f"layer '{missing[0]}' has no weights group in the file", path=path)
    for layer in with_weights:
        assign(layer, by_name.get(layer.name, []), sem, path, facts)
