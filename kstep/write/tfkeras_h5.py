"""Provides `write_tf_keras_h5`: a target-ready ModelSpec (kstep.convert.target) -> a legacy HDF5 model file laid out
as tf_keras 2.21's `model.save("x.h5")` writes one, which `tf_keras.models.load_model(path, compile=False)` loads.

The weights' `layer_names` follow the order tf.keras rebuilds the layers in (kstep.write.graph_order), which it pairs
them with the stored weights by; the config keeps the model's own layer order (tf.keras's from_config does not
depend on it, and readers that execute in config order, kstep's own, keep MODEL's order).
The file (tf_keras/src/saving/legacy/hdf5_format.py, `save_model_to_hdf5`,
`save_weights_to_hdf5_group`):
- root attributes `keras_version` ("2.21.0"), `backend` ("tensorflow") and `model_config` (JSON: Sequential when the
  model is a plain chain from one InputLayer, else Functional with tf.keras 2 inbound nodes
  `[[layer, node, tensor, kwargs], ...]` per call, a nested model's first call being its node 1); no
  training_config, no optimizer weights (inference only);
- group `model_weights` with attributes `keras_version`, `backend`, `layer_names` (every layer of `model.layers`: a
  Functional's InputLayers included, a Sequential's not), one group per layer with attribute `weight_names` (tf_keras's
  variable names, `<layer>/<weight>:0`, `<layer>/lstm_cell/kernel:0`, `<bi>/forward_<inner>/...`) and a dataset per
  name inside it, and `top_level_model_weights` (the model's own weights: none).
tf_keras matches weights to layers by position in `layer_names` and to variables by position in `weight_names`; the
names are written as tf_keras writes them so the file reads the same to a person and to kstep.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from kstep.convert.target import NotExpressible
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef, WeightRef
from kstep.kinds import weight_names_of
from kstep.write.graph_order import graph_order
from kstep.write.layer_config import check_activations, plain, record_of, tf_keras_config, trainable_flags

KERAS_VERSION = "2.21.0"
BACKEND = "tensorflow"
ACTIVATIONS = frozenset({
    "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "exponential",
    "hard_sigmoid", "swish", "silu", "gelu", "relu6", "leaky_relu", "mish", "log_softmax"})
"""Activation names `tf_keras.activations.get` knows in 2.21 (checked in the modern oracle venv); hard_silu is not."""
CELLS = {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}
"""The cell a tf.keras 2 RNN layer creates its variables under (`<layer>/<cell>/kernel:0`)."""


def write_tf_keras_h5(model: ModelSpec, path: str) -> None:
    """Write `model` to `path` (a new HDF5 file). The config and every weight's name are made and checked before the
    file is opened, so a NotExpressible leaves nothing behind; arrays are read one at a time while writing."""
    entry = model_entry(model, model.name)
    text = json.dumps(entry)
    layers = saved_layers(model)
    for spec in layers:
        if "/" in spec.name:
            raise NotExpressible(spec.name, "tf.keras stores a layer's weights in an HDF5 group named after the "
                                            "layer, and '/' would nest it")
    weights = [(spec.name, weight_order(spec, spec.name)) for spec in layers]
    with h5py.File(path, "w") as f:
        _str_attr(f, "keras_version", KERAS_VERSION)
        _str_attr(f, "backend", BACKEND)
        _str_attr(f, "model_config", text)
        group = f.create_group("model_weights")
        _str_attr(group, "keras_version", KERAS_VERSION)
        _str_attr(group, "backend", BACKEND)
        _str_list(group, "layer_names", [name for name, _ in weights])
        for name, arrays in weights:
            _weights_group(group.create_group(name), arrays)
        group.create_group("top_level_model_weights").attrs["weight_names"] = np.zeros((0,), dtype=np.float64)


# -- model_config ------------------------------------------------------------------------------------------------


def is_chain(model: ModelSpec) -> bool:
    """True when `model` is a Sequential tf.keras can rebuild as one: one InputLayer first, then each layer called
    once on the previous layer's only output, the last one the output."""
    layers = model.layers
    if model.class_name != "Sequential" or not layers or layers[0].kind != "InputLayer" or len(layers) < 2:
        return False
    if model.inputs != [TensorRef(layers[0].name)] or model.outputs != [TensorRef(layers[-1].name)]:
        return False
    return all(spec.kind != "InputLayer" and len(spec.calls) == 1 and spec.calls[0].inputs == [TensorRef(prev.name)]
               and not spec.calls[0].kwargs for prev, spec in zip(layers, layers[1:]))


def model_entry(model: ModelSpec, name: str, frozen: bool = False) -> dict[str, Any]:
    """`{class_name, config}` of a (nested) model called `name`; `frozen`: inside a model that is not trainable,
    whose layers tf.keras saves (and reloads) as not trainable, which decides the order of its weights."""
    if is_chain(model):
        return {"class_name": "Sequential", "config": {
            "name": name, "layers": [input_config(model.layers[0])] + [layer_entry(s, frozen)
                                                                         for s in model.layers[1:]]}}
    by_name = {spec.name: spec for spec in model.layers}
    layers = []
    for spec in model.layers:
        entry = input_config(spec) if spec.kind == "InputLayer" else layer_entry(spec, frozen)
        entry["name"] = spec.name
        entry["inbound_nodes"] = [inbound_node(spec, call, by_name) for call in spec.calls]
        layers.append(entry)
    return {"class_name": "Functional", "config": {
        "name": name, "trainable": True, "layers": layers,
        "input_layers": [ref_triple(r, by_name) for r in model.inputs],
        "output_layers": [ref_triple(r, by_name) for r in model.outputs]}}


def input_config(spec: LayerSpec) -> dict[str, Any]:
    """An InputLayer entry as tf_keras writes it."""
    shape = spec.params.get("batch_input_shape")
    return {"class_name": "InputLayer", "config": {
        "batch_input_shape": plain(shape), "dtype": spec.params.get("dtype", "float32"), "sparse": False,
        "ragged": False, "name": spec.name}}


def layer_entry(spec: LayerSpec, frozen: bool = False) -> dict[str, Any]:
    """`{class_name, config}` of one layer (a nested model: its own model entry)."""
    if spec.kind == "Model":
        assert spec.inner is not None
        return model_entry(spec.inner, spec.name, frozen or not spec.trainable)
    check_activations(spec, ACTIVATIONS, "tf.keras 2")
    config = tf_keras_config(spec)
    config["trainable"] = config["trainable"] and not frozen
    return {"class_name": spec.kind, "config": config}


def node_index(ref: TensorRef, by_name: dict[str, LayerSpec]) -> int:
    """The stored node of a call: a nested model's own graph is its node 0, so its calls count from 1."""
    spec = by_name.get(ref.layer)
    return ref.call + 1 if spec is not None and spec.kind == "Model" else ref.call


def ref_triple(ref: TensorRef, by_name: dict[str, LayerSpec]) -> list[Any]:
    return [ref.layer, node_index(ref, by_name), ref.tensor]


def inbound_node(spec: LayerSpec, call: LayerCall, by_name: dict[str, LayerSpec]) -> list[list[Any]]:
    """One call as a tf.keras 2 inbound node; the tensors a kind takes as call kwargs (MultiHeadAttention's value,
    key) nest in the first entry's kwargs."""
    kwargs = plain(call.kwargs)
    names = record_of(spec).tf_keras.tensor_kwargs if spec.kind != "Model" else ()
    if names and len(call.inputs) > 1:
        if len(call.inputs) - 1 > len(names):
            raise NotExpressible(spec.name, f"{spec.kind} called on {len(call.inputs)} tensors")
        nested = {n: ref_triple(r, by_name) for n, r in zip(names, call.inputs[1:])}
        return [ref_triple(call.inputs[0], by_name) + [dict(kwargs, **nested)]]
    return [ref_triple(r, by_name) + [dict(kwargs)] for r in call.inputs]


# -- model_weights -----------------------------------------------------------------------------------------------


def saved_layers(model: ModelSpec) -> list[LayerSpec]:
    """The layers tf_keras lists in `layer_names`: `model.layers` (a Sequential's has no InputLayer)."""
    if is_chain(model):
        return model.layers[1:]
    return graph_order(model)


def leaves(spec: LayerSpec, scope: str, trainable: bool = True) -> list[tuple[str, WeightRef, bool]]:
    """(tf_keras variable name under the name scope `scope`, weight, trainable) of every weight of a layer, wrapped
    and nested layers walked in tf.keras's order."""
    trainable = trainable and spec.trainable
    if spec.kind == "Model":
        assert spec.inner is not None
        return [leaf for inner in saved_layers(spec.inner) for leaf in leaves(inner, inner.name, trainable)]
    if spec.kind == "Bidirectional":
        return [leaf for inner in spec.wrapped for leaf in leaves(inner, f"{scope}/{inner.name}", trainable)]
    if spec.kind == "TimeDistributed":
        return leaves(spec.wrapped[0], scope, trainable) if spec.wrapped else []
    if not spec.weights:
        return []
    names = weight_names_of(spec.kind, spec.params) or _unchecked_names(spec)
    if len(names) != len(spec.weights):
        raise NotExpressible(spec.name, f"{spec.kind} has {len(spec.weights)} weights; tf.keras 2 names "
                                        f"{len(names)} for it")
    cell = CELLS.get(spec.kind)
    prefix = f"{scope}/{cell}" if cell else scope
    return [(f"{prefix}/{n}:0", w, trainable and t)
            for n, w, t in zip(names, spec.weights, trainable_flags(spec))]


def _unchecked_names(spec: LayerSpec) -> list[str]:
    """Variable names of the kinds kstep does not check by name (weights=None), as tf_keras names them."""
    p = spec.params
    if spec.kind == "MultiHeadAttention":
        parts = ("kernel", "bias") if p.get("use_bias", True) else ("kernel",)
        return [f"{d}/{w}" for d in ("query", "key", "value", "attention_output") for w in parts]
    if spec.kind == "Attention":
        return (["scale"] if p.get("use_scale") else []) + (["concat_score_weight"] if p.get("score_mode") ==
                                                             "concat" else [])
    if spec.kind == "AdditiveAttention":
        return ["scale"] if p.get("use_scale", True) else []
    if spec.kind == "Normalization":
        return ["mean", "variance", "count"]
    return []


def weight_order(spec: LayerSpec, scope: str) -> list[tuple[str, WeightRef]]:
    """(variable name, weight) of every weight of the layer in tf.keras's order: `layer.weights`, the trainable ones
    first (which moves a nested model's BatchNormalization statistics after every trainable weight)."""
    found = leaves(spec, scope)
    return [(n, w) for n, w, t in found if t] + [(n, w) for n, w, t in found if not t]


def _weights_group(group: h5py.Group, weights: list[tuple[str, WeightRef]]) -> None:
    _str_list(group, "weight_names", [n for n, _ in weights])
    for name, ref in weights:
        group.create_dataset(name, data=np.asarray(ref.load()))


def _str_attr(obj: h5py.Group, key: str, value: str) -> None:
    """A variable-length UTF-8 string attribute (how h5py stores a str, and how tf_keras 2.21's attributes read)."""
    obj.attrs.create(key, value, dtype=h5py.string_dtype("utf-8"))


def _str_list(obj: h5py.Group, key: str, values: list[str]) -> None:
    """A list of strings as tf_keras writes one (an empty list as an empty float64 array, as numpy makes it)."""
    if not values:
        obj.attrs[key] = np.zeros((0,), dtype=np.float64)
        return
    obj.attrs.create(key, np.array(values, dtype=object), dtype=h5py.string_dtype("utf-8"))
