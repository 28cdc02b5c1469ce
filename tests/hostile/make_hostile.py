"""Provides builders for hostile and broken inputs, written at test time into a temporary folder (nothing large is
committed). Each builder returns the path(s) it wrote; `valid_model` is the small well-formed Keras-2-style file
the others mutate."""

from __future__ import annotations

import json
import marshal
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np

DENSE_IN, DENSE_OUT = 4, 3


def _layers(dense_units=DENSE_OUT, reshape=(DENSE_OUT, 1)):
    return [
        {"name": "x", "class_name": "InputLayer",
         "config": {"batch_input_shape": [None, DENSE_IN], "dtype": "float32", "name": "x"}, "inbound_nodes": []},
        {"name": "dense", "class_name": "Dense",
         "config": {"name": "dense", "units": dense_units, "activation": "relu", "use_bias": True},
         "inbound_nodes": [[["x", 0, 0, {}]]]},
        {"name": "reshape", "class_name": "Reshape", "config": {"name": "reshape", "target_shape": list(reshape)},
         "inbound_nodes": [[["dense", 0, 0, {}]]]},
        {"name": "flatten", "class_name": "Flatten", "config": {"name": "flatten"},
         "inbound_nodes": [[["reshape", 0, 0, {}]]]},
    ]


def model_config(layers=None) -> dict:
    return {"class_name": "Model", "config": {"name": "m", "layers": layers or _layers(),
                                              "input_layers": [["x", 0, 0]], "output_layers": [["flatten", 0, 0]]}}


def write_model(path: Path, config: dict | str, weights: dict | None = None, layer_names=None,
                version=b"2.2.4") -> Path:
    """A Keras-2-style full-model .h5: root attrs, model_weights with layer_names and per-layer weight_names."""
    rng = np.random.default_rng(0)
    if weights is None:
        weights = {"dense": [("dense/kernel:0", rng.normal(size=(DENSE_IN, DENSE_OUT)).astype(np.float32)),
                             ("dense/bias:0", rng.normal(size=DENSE_OUT).astype(np.float32))]}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = (json.dumps(config) if isinstance(config, dict) else config).encode()
        mw = f.create_group("model_weights")
        names = layer_names if layer_names is not None else ["x", "dense", "reshape", "flatten"]
        mw.attrs["layer_names"] = np.array([n.encode() for n in names])
        mw.attrs["keras_version"] = version
        mw.attrs["backend"] = b"tensorflow"
        for name in names:
            g = mw.create_group(name)
            ws = weights.get(name, [])
            g.attrs["weight_names"] = np.array([w[0].encode() for w in ws]) if ws else np.zeros(0)
            for wname, arr in ws:
                g.create_dataset(wname, data=arr)
    return path


def valid_model(d: Path) -> Path:
    return write_model(d / "valid.h5", model_config())


def valid_input(d: Path) -> Path:
    path = d / "ref.npy"
    np.save(path, np.random.default_rng(1).normal(size=(2, DENSE_IN)).astype(np.float32))
    return path


def lambda_model(d: Path, marker: Path) -> Path:
    """A Keras-1-style Lambda whose marshalled code would create `marker` if anything executed it."""
    code = compile(f"open({str(marker)!r}, 'w').write('executed')", "<lambda>", "exec")
    blob = marshal.dumps(code).decode("raw_unicode_escape")
    layers = _layers()
    layers.insert(2, {"name": "lam", "class_name": "Lambda",
                      "config": {"name": "lam", "function": [blob, None, None], "function_type": "lambda",
                                 "output_shape": None, "output_shape_type": "raw", "arguments": {}},
                      "inbound_nodes": [[["dense", 0, 0, {}]]]})
    layers[3]["inbound_nodes"] = [[["lam", 0, 0, {}]]]
    return write_model(d / "lambda.h5", model_config(layers), layer_names=["x", "dense", "lam", "reshape",
                                                                           "flatten"])


def hostile_names(d: Path) -> Path:
    layers = _layers()
    evil = "[bold red]X[/] \x1b]52;c;aGk=\x07"
    layers[1]["name"] = layers[1]["config"]["name"] = evil
    layers[2]["inbound_nodes"] = [[[evil, 0, 0, {}]]]
    rng = np.random.default_rng(0)
    weights = {evil: [("k", rng.normal(size=(DENSE_IN, DENSE_OUT)).astype(np.float32)),
                      ("b", np.zeros(DENSE_OUT, np.float32))]}
    return write_model(d / "names.h5", model_config(layers), weights, ["x", evil, "reshape", "flatten"])


def keras_zip(d: Path, members: dict[str, bytes], name="m.keras", compress=zipfile.ZIP_DEFLATED) -> Path:
    path = d / name
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def fifo(d: Path) -> Path:
    path = d / "fifo.h5"
    os.mkfifo(path)
    return path
