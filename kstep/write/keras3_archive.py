"""Provides `write_keras3_archive`: a target-ready ModelSpec (kstep.convert.target) -> a Keras 3 `.keras` archive as
Keras 3.15's `model.save("x.keras")` writes one, which `keras.saving.load_model(path)` loads; the mirror of
kstep.io.keras_zip.

The archive (keras/src/saving/saving_lib.py): `metadata.json` (keras_version, date_saved), `config.json` (the model
serialized with `module`, `class_name`, `config`, `registered_name`; each layer's dtype a DTypePolicy; an InputLayer's
`batch_shape`; Keras 3 inbound nodes `{"args": [...], "kwargs": {...}}` whose tensors are `__keras_tensor__` entries
with a `keras_history`) and `model.weights.h5` in Keras 3's object tree: each object's own variables at
`<path>/vars/0..n-1`, the layers of a model under `layers/<snake_case class>[_n]` in `model.layers` order (a
Functional's InputLayers included, a Sequential's not), a recurrent layer's under `cell`, Bidirectional's under
`forward_layer`/`backward_layer`, TimeDistributed's under `layer`, MultiHeadAttention's under `query_dense`,
`key_dense`, `value_dense`, `output_dense`.

Each layer's config starts from its tf.keras 2 config (kstep.write.layer_config) and takes Keras 3's spelling of its
kind (`KindInfo.keras3` in kstep.kinds). A layer Keras 3 cannot express exactly is NotExpressible, raised before the
file is created: a kind Keras 3 lacks, and `hard_sigmoid`, which a target-ready model means as tf.keras's
clip(0.2x + 0.5, 0, 1) and Keras 3 computes as relu6(x + 3) / 6.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from typing import Any

import h5py
import numpy as np

from kstep.convert.target import NotExpressible
from kstep.io.keras_zip import snake_case
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef
from kstep.kinds import TRAINING_ONLY
from kstep.write.graph_order import graph_order
from kstep.write.layer_config import check_activations, plain, record_of, tf_keras_config, unstate
from kstep.write.tfkeras_h5 import ACTIVATIONS as TF_KERAS_ACTIVATIONS
from kstep.write.tfkeras_h5 import is_chain

KERAS_VERSION = "3.15.1"
ACTIVATIONS = (TF_KERAS_ACTIVATIONS - {"hard_sigmoid"}) | {"hard_silu", "hard_swish"}
"""Activation names Keras 3.15 knows that compute what kstep's engine computes for a target-ready model."""
REFUSED = {"hard_sigmoid": "Keras 3's hard_sigmoid is relu6(x + 3) / 6, not tf.keras's clip(0.2x + 0.5, 0, 1)"}
HINT = "convert it --to tf.keras"
CELLS = {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell", "ConvLSTM1D": "conv_lstm_cell",
         "ConvLSTM2D": "conv_lstm_cell", "ConvLSTM3D": "conv_lstm_cell"}
"""Recurrent kinds: their variables live on their `cell` (the cell's vars group carries this name)."""
MHA_DENSES = (("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
              ("output_dense", "attention_output"))
"""MultiHeadAttention's sub-layers holding its 8 (4 without bias) weights, in tf.keras's weight order."""
FUNCTIONAL_MODULE = "keras.src.models.functional"
INPUT_KEYS = ("batch_input_shape", "input_shape", "batch_size")
"""tf.keras lets any layer declare the model's input; Keras 3 only an InputLayer (which the writer always writes)."""


def write_keras3_archive(model: ModelSpec, path: str) -> None:
    """Write `model` to `path` (a new zip). Config and weights are made before the file is created, so a
    NotExpressible leaves nothing behind."""
    config = json.dumps(model_entry(model, model.name, top=True))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        _vars(f, model.name, [])
        _layers(f.create_group("layers"), model)
    metadata = json.dumps({"keras_version": KERAS_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", metadata)
        zf.writestr("config.json", config)
        zf.writestr("model.weights.h5", buffer.getvalue())


# -- config.json -------------------------------------------------------------------------------------------------


def policy(dtype: str) -> dict[str, Any]:
    """A layer's dtype as Keras 3 serializes it."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def model_entry(model: ModelSpec, name: str, top: bool = False) -> dict[str, Any]:
    """The serialized (nested) model called `name`: a Sequential when it is a plain chain, else a Functional."""
    if is_chain(model):
        first = input_entry(model.layers[0])
        shape = first["config"]["batch_shape"]
        config = {"name": name, "trainable": True, "dtype": policy("float32"),
                  "layers": [first] + [layer_entry(s) for s in model.layers[1:]], "build_input_shape": shape}
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                "build_config": {"input_shape": shape}}
    by_name = {spec.name: spec for spec in model.layers}
    layers = []
    for spec in model.layers:
        entry = input_entry(spec) if spec.kind == "InputLayer" else layer_entry(spec)
        entry["name"] = spec.name
        entry["inbound_nodes"] = [inbound_node(spec, call, by_name) for call in spec.calls]
        layers.append(entry)
    config = {"name": name, "trainable": True, "layers": layers,
              "input_layers": _io_refs(model.inputs, by_name), "output_layers": _io_refs(model.outputs, by_name)}
    return {"module": FUNCTIONAL_MODULE, "class_name": "Functional", "config": config,
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def input_entry(spec: LayerSpec) -> dict[str, Any]:
    """An InputLayer as Keras 3 serializes it (`batch_shape`, by the kind's Keras 3 spelling)."""
    config = {"batch_input_shape": plain(spec.params.get("batch_input_shape")),
              "dtype": spec.params.get("dtype", "float32"), "sparse": False, "ragged": False, "name": spec.name,
              "optional": False}
    for old, new in record_of(spec).keras3.renames.items():
        config = {new if k == old else k: v for k, v in config.items()}
    return {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}


def layer_entry(spec: LayerSpec) -> dict[str, Any]:
    """One serialized layer (a nested model: its own model entry)."""
    if spec.kind == "Model":
        assert spec.inner is not None
        entry = model_entry(spec.inner, spec.name)
        entry["config"]["trainable"] = spec.trainable
        return entry
    config, build = keras3_config(spec)
    layer: dict[str, Any] = {"module": "keras.layers", "class_name": spec.kind, "config": config,
                             "registered_name": None}
    if build:
        layer["build_config"] = {"shapes_dict": build}
    return layer


def keras3_config(spec: LayerSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Keras 3 config, build shapes) of one layer: its tf.keras 2 config in Keras 3's spelling."""
    record = record_of(spec)
    if record.keras3.missing:
        raise NotExpressible(spec.name, f"{spec.kind}: {record.keras3.missing}", HINT)
    check_activations(spec, ACTIVATIONS, "Keras 3", HINT, REFUSED)
    config = tf_keras_config(spec, keras3=True)
    for key in INPUT_KEYS:
        config.pop(key, None)
    spelling = record.keras3
    unstate(spec, config, spelling, "Keras 3")
    for old, new in spelling.renames.items():
        if old in config:
            config[new] = config.pop(old)
    build = {k: config.pop(k) for k in spelling.build if k in config}
    for key, neutral in spelling.extra.items():
        if neutral != TRAINING_ONLY:
            config.setdefault(key, neutral)
    config["dtype"] = policy(config["dtype"])
    if spec.wrapped:
        config["layer"] = _wrapped_entry(spec.wrapped[0], "forward_" if spec.kind == "Bidirectional" else "")
        if "backward_layer" in config:
            config["backward_layer"] = _wrapped_entry(spec.wrapped[-1], "backward_")
    return config, {k: v for k, v in build.items() if v is not None}


def _wrapped_entry(spec: LayerSpec, prefix: str) -> dict[str, Any]:
    entry = layer_entry(spec)
    name = entry["config"]["name"]
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        entry["config"]["name"] = name[len(prefix):]
    return entry


def _tensor(ref: TensorRef) -> dict[str, Any]:
    """A `__keras_tensor__`: Keras 3 rebuilds the tensor from `keras_history` alone (functional.deserialize_node);
    its shape is not known to the writer and is written unknown-rank-free as []."""
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [], "dtype": "float32", "keras_history": [ref.layer, ref.call, ref.tensor]}}


def inbound_node(spec: LayerSpec, call: LayerCall, by_name: dict[str, LayerSpec]) -> dict[str, Any]:
    """One call: one input tensor as the only arg, several as one list arg (merges, Attention, a multi-input
    model), or the first as arg and the rest as the kind's tensor kwargs (MultiHeadAttention's value, key)."""
    kwargs = dict(plain(call.kwargs))
    names = record_of(spec).tf_keras.tensor_kwargs if spec.kind != "Model" else ()
    refs = call.inputs
    if names and len(refs) > 1:
        if len(refs) - 1 > len(names):
            raise NotExpressible(spec.name, f"{spec.kind} called on {len(refs)} tensors")
        kwargs.update({n: _tensor(r) for n, r in zip(names, refs[1:])})
        return {"args": [_tensor(refs[0])], "kwargs": kwargs}
    args: list[Any] = [_tensor(refs[0])] if len(refs) == 1 else [[_tensor(r) for r in refs]]
    return {"args": args, "kwargs": kwargs}


def _io_refs(refs: list[TensorRef], by_name: dict[str, LayerSpec]) -> list[Any]:
    """input_layers/output_layers as Keras 3 writes them: a bare triple for one tensor; a nested Functional's
    calls count from 1 there (functional.get_config's node_reindexing_map)."""
    def triple(ref: TensorRef) -> list[Any]:
        spec = by_name[ref.layer]
        offset = 1 if spec.kind == "Model" and spec.inner is not None and not is_chain(spec.inner) else 0
        return [ref.layer, ref.call + offset, ref.tensor]
    out = [triple(r) for r in refs]
    return out[0] if len(out) == 1 else out


# -- model.weights.h5 ------------------------------------------------------------------------------------------


def _vars(group: h5py.Group, name: str, arrays: list[np.ndarray]) -> None:
    """An object's own variables: `vars/0..n-1`, the group named after the object (as Keras 3.15 writes)."""
    vars_group = group.create_group("vars")
    vars_group.attrs["name"] = name
    for i, array in enumerate(arrays):
        vars_group.create_dataset(str(i), data=array)


def _layers(group: h5py.Group, model: ModelSpec) -> None:
    """A model's layers under `group` (its `layers` container), each named by class and count."""
    order = model.layers[1:] if is_chain(model) else graph_order(model)
    counts: dict[str, int] = {}
    for spec in order:
        cls = spec.kind
        if spec.kind == "Model":
            assert spec.inner is not None
            cls = "Sequential" if is_chain(spec.inner) else "Functional"
        base = snake_case(cls)
        n = counts.get(base, 0)
        counts[base] = n + 1
        _layer(group.create_group(base if n == 0 else f"{base}_{n}"), spec)


def _layer(group: h5py.Group, spec: LayerSpec) -> None:
    """One layer's object tree: own variables, then its sub-objects'."""
    arrays = [np.asarray(w.load()) for w in spec.weights]
    if spec.kind == "Model":
        assert spec.inner is not None
        _vars(group, spec.name, [])
        _layers(group.create_group("layers"), spec.inner)
    elif spec.kind == "Bidirectional":
        _vars(group, spec.name, [])
        _layer(group.create_group("forward_layer"), spec.wrapped[0])
        _layer(group.create_group("backward_layer"), spec.wrapped[-1])
    elif spec.kind == "TimeDistributed":
        _vars(group, spec.name, [])
        _layer(group.create_group("layer"), spec.wrapped[0])
    elif spec.kind in CELLS:
        _vars(group, spec.name, [])
        _vars(group.create_group("cell"), CELLS[spec.kind], arrays)
    elif spec.kind == "MultiHeadAttention":
        _vars(group, spec.name, [])
        per = 2 if spec.params.get("use_bias", True) else 1
        if len(arrays) != per * len(MHA_DENSES):
            raise NotExpressible(spec.name, f"MultiHeadAttention has {len(arrays)} weights, not {per * 4}")
        for i, (sub, name) in enumerate(MHA_DENSES):
            _vars(group.create_group(sub), name, arrays[per * i:per * (i + 1)])
        _vars(group.create_group("_dropout_layer"), "dropout", [])
        _vars(group.create_group("_softmax"), "softmax", [])
    else:
        _vars(group, spec.name, arrays)
