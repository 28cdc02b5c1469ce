"""Provides builders for hostile and broken inputs, written at test time into a temporary folder (nothing large is
committed). `valid_model` is the small well-formed Keras-2-style file (root attrs keras_version, backend,
model_config; model_weights with layer_names and per-layer weight_names, as Keras 2.2.4 writes them) that the
others mutate.

`BAD_MODELS` and `BAD_REFS` map a case name to a builder `(folder) -> Case`; a Case says which files the command
gets and what the one stderr line must say (and which file it must name).
"""

from __future__ import annotations

import json
import marshal
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

DENSE_IN, DENSE_OUT = 4, 3


@dataclass
class Case:
    """model (+ weights for an architecture .json), ref; `needle` must appear in the stderr line, which must also
    name `blame` (the model unless said otherwise)."""

    model: Path
    needle: str
    weights: Path | None = None
    ref: Path | None = None
    blame: Path | None = None

    @property
    def blamed(self) -> Path:
        return self.blame or self.model


# --- valid small files ------------------------------------------------------------------------------------------

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


def dense_weights(kernel=(DENSE_IN, DENSE_OUT), bias=(DENSE_OUT,), name="dense") -> dict:
    rng = np.random.default_rng(0)
    return {name: [(f"{name}/kernel:0", rng.normal(size=kernel).astype(np.float32)),
                   (f"{name}/bias:0", rng.normal(size=bias).astype(np.float32))]}


def write_weights(f, names, weights, version=b"2.2.4") -> None:
    """Keras 2 weights layout into group `f`: layer_names, and per layer a group with weight_names + datasets."""
    f.attrs["layer_names"] = np.array([n.encode() for n in names])
    f.attrs["keras_version"] = version
    f.attrs["backend"] = b"tensorflow"
    for name in names:
        g = f.create_group(name)
        ws = weights.get(name, [])
        g.attrs["weight_names"] = np.array([w[0].encode() for w in ws]) if ws else np.zeros(0)
        for wname, arr in ws:
            g.create_dataset(wname, data=arr)


def write_model(path: Path, config: dict | str, weights: dict | None = None, layer_names=None,
                version=b"2.2.4") -> Path:
    """A Keras-2-style full-model .h5: root attrs, model_weights with layer_names and per-layer weight_names."""
    weights = dense_weights() if weights is None else weights
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = (json.dumps(config) if isinstance(config, dict) else config).encode()
        write_weights(f.create_group("model_weights"),
                      layer_names if layer_names is not None else ["x", "dense", "reshape", "flatten"], weights,
                      version)
    return path


def valid_model(d: Path, name="valid.h5") -> Path:
    return write_model(d / name, model_config())


def valid_input(d: Path, name="ref.npy") -> Path:
    path = d / name
    np.save(path, np.random.default_rng(1).normal(size=(2, DENSE_IN)).astype(np.float32))
    return path


def valid_arch_and_weights(d: Path) -> tuple[Path, Path]:
    arch = d / "arch.json"
    arch.write_text(json.dumps(model_config()))
    weights = d / "weights.h5"
    with h5py.File(weights, "w") as f:
        write_weights(f, ["x", "dense", "reshape", "flatten"], dense_weights())
    return arch, weights


def with_layer(layer: dict, after="dense", reshape=(DENSE_OUT, 1)) -> tuple[dict, list[str]]:
    """The valid graph with `layer` inserted after `after` (the next layer is rewired to it)."""
    layers = _layers(reshape=reshape)
    i = [entry["name"] for entry in layers].index(after)
    layer = dict(layer, inbound_nodes=[[[after, 0, 0, {}]]])
    layers.insert(i + 1, layer)
    layers[i + 2]["inbound_nodes"] = [[[layer["name"], 0, 0, {}]]]
    return model_config(layers), [entry["name"] for entry in layers]


# --- special models for the tests ---------------------------------------------------------------------------------

def lambda_model(d: Path, marker: Path) -> Path:
    """A Keras-1-style Lambda whose marshalled code (func_dump: raw_unicode_escape of marshal.dumps) would create
    `marker` if anything unmarshalled and executed it."""
    code = compile(f"open({str(marker)!r}, 'w').write('executed')", "<lambda>", "exec")
    blob = marshal.dumps(code).decode("raw_unicode_escape")
    config, names = with_layer({"name": "lam", "class_name": "Lambda",
                                "config": {"name": "lam", "function": [blob, None, None], "function_type": "lambda",
                                           "output_shape": [blob, None, None], "output_shape_type": "lambda",
                                           "arguments": {}}})
    return write_model(d / "lambda.h5", config, layer_names=names, version=b"1.2.2")


EVIL = "[bold red]X[/] \x1b]52;c;aGk=\x07 \x1b[2J\r"


def hostile_names(d: Path, with_weights=True) -> Path:
    """Layer `dense` renamed EVIL (Rich markup, an OSC 52 clipboard write, a screen clear, a carriage return)."""
    layers = _layers()
    layers[1]["name"] = layers[1]["config"]["name"] = EVIL
    layers[2]["inbound_nodes"] = [[[EVIL, 0, 0, {}]]]
    weights = dense_weights(name=EVIL) if with_weights else {}
    return write_model(d / ("names.h5" if with_weights else "names_noweights.h5"), model_config(layers), weights,
                       ["x", EVIL, "reshape", "flatten"])


# Bidirectional overrides and isolates, zero-width characters, the BOM and NUL: a name that, shown raw, reorders or
# hides text. A lone surrogate comes from a JSON "\\udcff" escape (no encoder accepts it; h5 names cannot hold it).
BIDI = "adm\u202enimi\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\ufeff"
NUL_SURROGATE = "r\x00s\udcffz"
INVISIBLE = "\x00\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\ufeff"


def invisible_names(d: Path) -> Path:
    """The valid model with `dense` renamed BIDI (its weights too), `reshape` NUL_SURROGATE, the input and the model
    names holding a lone surrogate (the config JSON holds them as \\u escapes)."""
    layers = _layers()
    inp = "x\udcfe\u2067"
    layers[0]["name"] = layers[0]["config"]["name"] = inp
    layers[1]["inbound_nodes"] = [[[inp, 0, 0, {}]]]
    layers[1]["name"] = layers[1]["config"]["name"] = BIDI
    layers[2]["inbound_nodes"] = [[[BIDI, 0, 0, {}]]]
    layers[2]["name"] = layers[2]["config"]["name"] = NUL_SURROGATE
    layers[3]["inbound_nodes"] = [[[NUL_SURROGATE, 0, 0, {}]]]
    config = model_config(layers)
    config["config"].update(name="m\udcfd\u202e", input_layers=[[inp, 0, 0]])
    return write_model(d / "invisible.h5", config, dense_weights(name=BIDI), [BIDI, "flatten"])


def _act(name: str, *sources: tuple[str, int]) -> dict:
    return {"name": name, "class_name": "Activation", "config": {"name": name, "activation": "tanh"},
            "inbound_nodes": [[[src, call, 0, {}]] for src, call in sources]}


def _nested(name: str, inner: list[str], source: tuple[str, int]) -> dict:
    """A Keras 2 nested functional model `name`: input `name_in`, one tanh Activation per `inner` name (each fed
    by the input), its outputs in that order; called once on `source`."""
    layers = [{"name": f"{name}_in", "class_name": "InputLayer", "inbound_nodes": [],
               "config": {"name": f"{name}_in", "batch_input_shape": [None, DENSE_OUT], "dtype": "float32"}}]
    layers += [_act(n, (f"{name}_in", 0)) for n in inner]
    return {"name": name, "class_name": "Model", "inbound_nodes": [[[source[0], source[1], 0, {}]]],
            "config": {"name": name, "layers": layers, "input_layers": [[f"{name}_in", 0, 0]],
                       "output_layers": [[n, 0, 0] for n in inner]}}


def key_model(d: Path, case: str) -> Path:
    """x -> dense -> layers whose names look like dump keys. `at`: `act` called twice and a layer named `act@1`
    (both keyed act@1); `slash`: nested model `outer` holding `inner` and a layer named `outer/inner`; `colon`:
    nested model `pair` with two outputs (pair:0, pair:1) and a layer named `pair:1`; `at_alone`: a layer named
    `act@1` beside a once-called `act` (no collision); `savez`: layers named `file` and `allow_pickle` (np.savez's
    own keywords)."""
    head = _layers()[:2]
    if case == "at":
        tail = [_act("act", ("dense", 0), ("act", 0)), _act("act@1", ("act", 1))]
    elif case == "at_alone":
        tail = [_act("act", ("dense", 0)), _act("act@1", ("act", 0))]
    elif case == "slash":
        tail = [_nested("outer", ["inner"], ("dense", 0)), _act("outer/inner", ("outer", 0))]
    elif case == "colon":
        pair = _nested("pair", ["p", "q"], ("dense", 0))
        tail = [pair, _act("pair:1", ("pair", 0))]
        tail[1]["inbound_nodes"] = [[["pair", 0, 1, {}]]]
    elif case == "savez":
        tail = [_act("file", ("dense", 0)), _act("allow_pickle", ("file", 0))]
    else:
        raise ValueError(case)
    config = model_config(head + tail)
    config["config"]["output_layers"] = [[tail[-1]["name"], 0, 0]]
    return write_model(d / f"key_{case}.h5", config, layer_names=["x", "dense"])


def unknown_class(d: Path) -> Path:
    layers = _layers()
    layers[2]["class_name"] = "MyCustomLayer"
    return write_model(d / "custom.h5", model_config(layers))


def keras_zip(d: Path, members: dict[str, bytes], name="m.keras", compress=zipfile.ZIP_DEFLATED) -> Path:
    path = d / name
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def patch_zip_sizes(path: Path, member: str, file_size: int) -> None:
    """Make the central directory entry of `member` declare `file_size` uncompressed bytes (a lying header)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46: pos + 46 + name_len] == name:
            struct.pack_into("<I", data, pos + 24, file_size)
            break
        pos += 4
    path.write_bytes(bytes(data))


def fifo(d: Path, name="fifo.h5") -> Path:
    path = d / name
    os.mkfifo(path)
    return path


# --- bad model files ----------------------------------------------------------------------------------------------

def _empty(d):
    p = d / "empty.h5"
    p.write_bytes(b"")
    return Case(p, "is empty")


def _random(d):
    p = d / "random.h5"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    return Case(p, "not a Keras model file")


def _random_with_hdf5_signature(d):
    p = d / "sig.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(0).bytes(4096))
    return Case(p, "cannot be opened as HDF5")


def _truncated(d):
    full = valid_model(d).read_bytes()
    p = d / "truncated.h5"
    p.write_bytes(full[: len(full) // 3])
    return Case(p, "truncated or corrupt")


def _not_keras(d):
    p = d / "plain.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    return Case(p, "not a Keras model")


def _weights_only(d):
    p = d / "weights_only.h5"
    with h5py.File(p, "w") as f:
        write_weights(f, ["dense"], {})
    return Case(p, "weights-only")


def _invalid_json(d):
    return Case(write_model(d / "badjson.h5", "{not json"), "not valid JSON")


def _deep_json(d):
    return Case(write_model(d / "deep.h5", "[" * 100_000 + "]" * 100_000), "nested too deeply")


def _deep_json_objects(d):
    return Case(write_model(d / "deepobj.h5", '{"a":' * 100_000 + "1" + "}" * 100_000), "nested too deeply")


def _deep_param(d):
    """Nesting that json.loads accepts but anything recursive downstream would not (900 levels in a parameter)."""
    layers = _layers()
    layers[1]["config"]["foo"] = json.loads("[" * 900 + "]" * 900)
    return Case(write_model(d / "deepparam.h5", model_config(layers)), "nested too deeply")


def _config_not_object(d):
    return Case(write_model(d / "list.h5", "[1, 2, 3]"), "not a JSON object")


def _cycle(d):
    layers = _layers()
    layers[1]["inbound_nodes"] = [[["flatten", 0, 0, {}]]]
    return Case(write_model(d / "cycle.h5", model_config(layers)), "cycle")


def _missing_layer(d):
    layers = _layers()
    layers[2]["inbound_nodes"] = [[["ghost", 0, 0, {}]]]
    return Case(write_model(d / "ghost.h5", model_config(layers)), "'ghost'")


def _malformed_io_ref(d):
    """Found by fuzzing: a malformed [layer, node, tensor] used to recurse until RecursionError."""
    config = model_config()
    config["config"]["output_layers"] = [["flatten", 0, None]]
    return Case(write_model(d / "ioref.h5", config), "is not [layer, node, tensor]")


def _reshape_target_junk(d):
    """Found by fuzzing: a non-integer target_shape used to reach the engine (TypeError/OverflowError)."""
    layers = _layers()
    layers[2]["config"]["target_shape"] = [float("inf"), None]
    return Case(write_model(d / "target.h5", model_config(layers)), "is not an integer")


def _duplicate_names(d):
    layers = _layers()
    layers[2]["name"] = layers[2]["config"]["name"] = "dense"
    layers[3]["inbound_nodes"] = [[["dense", 0, 0, {}]]]
    return Case(write_model(d / "dup.h5", model_config(layers)), "two layers are named 'dense'")


def _missing_weights(d):
    return Case(write_model(d / "noweights.h5", model_config(), weights={}), "'dense'")


def _missing_dataset(d):
    p = write_model(d / "nodataset.h5", model_config())
    with h5py.File(p, "a") as f:
        del f["model_weights/dense/dense/kernel:0"]
    return Case(p, "no such dataset")


def _extra_weights(d):
    ws = dense_weights()
    ws["dense"].append(("dense/extra:0", np.zeros(3, np.float32)))
    return Case(write_model(d / "extra.h5", model_config(), weights=ws), "has 3 weights")


def _wrong_kernel_shape(d):
    return Case(write_model(d / "kshape.h5", model_config(), weights=dense_weights(kernel=(4, 5))),
                "config needs (input width, 3)")


def _wrong_bias_shape(d):
    return Case(write_model(d / "bshape.h5", model_config(), weights=dense_weights(bias=(7,))),
                "config needs (3,)")


def _weight_not_numbers(d):
    p = write_model(d / "strweights.h5", model_config())
    with h5py.File(p, "a") as f:
        del f["model_weights/dense/dense/bias:0"]
        f["model_weights/dense/dense"].create_dataset("bias:0", data=np.array([b"a", b"b", b"c"]))
    return Case(p, "expected numbers")


def _absurd_units(d):
    return Case(write_model(d / "units.h5", model_config(_layers(dense_units=10**12))), "absurdly large")


def _absurd_reshape(d):
    return Case(write_model(d / "reshape.h5", model_config(_layers(reshape=(10**5, 10**5, 10**5)))),
                "absurdly large")


def _absurd_repeat(d):
    config, names = with_layer({"name": "rv", "class_name": "RepeatVector", "config": {"name": "rv", "n": 10**9}})
    return Case(write_model(d / "repeat.h5", config, layer_names=names), "absurdly large")


def _absurd_upsampling(d):
    config, names = with_layer({"name": "up", "class_name": "UpSampling1D", "config": {"name": "up", "size": 10**8}},
                               after="reshape")
    return Case(write_model(d / "upsample.h5", config, layer_names=names), "absurdly large")


def _absurd_padding(d):
    config, names = with_layer({"name": "zp", "class_name": "ZeroPadding1D",
                                "config": {"name": "zp", "padding": [10**9, 10**9]}}, after="reshape")
    return Case(write_model(d / "padding.h5", config, layer_names=names), "absurdly large")


def _absurd_input(d):
    layers = _layers()
    layers[0]["config"]["batch_input_shape"] = [None, 10**5, 10**5]
    return Case(write_model(d / "input.h5", model_config(layers)), "absurdly large")


def _huge_declared_dataset(d):
    """A chunked dataset declaring 16 GB that the 20 kB file does not hold (reading it would be all fill value)."""
    p = write_model(d / "bigds.h5", model_config(_layers(dense_units=10**9)))
    with h5py.File(p, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"], g["bias:0"]
        g.create_dataset("kernel:0", shape=(DENSE_IN, 10**9), dtype="f4", chunks=(1, 1024))
        g.create_dataset("bias:0", shape=(10**9,), dtype="f4", chunks=(1024,))
    return Case(p, "refused")


def _external_link(d):
    target = valid_model(d, "target.h5")
    p = write_model(d / "extlink.h5", model_config())
    with h5py.File(p, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        g["kernel:0"] = h5py.ExternalLink(str(target), "/model_weights/dense/dense/kernel:0")
    return Case(p, "external link")


def _external_link_group(d):
    target = valid_model(d, "target.h5")
    p = write_model(d / "extgroup.h5", model_config())
    with h5py.File(p, "a") as f:
        del f["model_weights/dense"]
        f["model_weights"]["dense"] = h5py.ExternalLink(str(target), "/model_weights/dense")
    return Case(p, "external link")


def _external_link_root(d):
    target = valid_model(d, "target.h5")
    p = write_model(d / "extroot.h5", model_config())
    with h5py.File(p, "a") as f:
        del f["model_weights"]
        f["model_weights"] = h5py.ExternalLink(str(target), "/model_weights")
    return Case(p, "external link")


def _soft_link_dangling(d):
    p = write_model(d / "softdangle.h5", model_config())
    with h5py.File(p, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        g["kernel:0"] = h5py.SoftLink("/elsewhere/kernel:0")
    return Case(p, "cannot be read")


def _soft_link_loop(d):
    p = write_model(d / "softloop.h5", model_config())
    with h5py.File(p, "a") as f:
        del f["model_weights"]
        f["model_weights"] = h5py.SoftLink("/model_weights")
    return Case(p, "cannot be read")


def _external_storage(d):
    raw = d / "raw.bin"
    raw.write_bytes(np.zeros(12, np.float32).tobytes())
    p = write_model(d / "extstore.h5", model_config())
    with h5py.File(p, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        g.create_dataset("kernel:0", shape=(4, 3), dtype="f4", external=[(str(raw), 0, 48)])
    return Case(p, "external storage")


def _external_storage_with_address(d):
    """External storage whose layout message also holds an address in this file (bytes patched): H5Dget_offset
    then answers, and HDF5 still reads the external file; only the header's external-file-list message tells."""
    case = _external_storage(d)
    data = bytearray(case.model.read_bytes())
    undefined = bytes([3, 1]) + b"\xff" * 8  # a version-3 contiguous layout message with no address
    assert data.count(undefined) == 1
    at = data.find(undefined) + 2
    data[at:at + 8] = (2048).to_bytes(8, "little")
    case.model.write_bytes(bytes(data))
    with h5py.File(case.model, "r") as f:
        assert f["model_weights/dense/dense/kernel:0"].id.get_offset() == 2048
    return case


def _virtual(d):
    src = valid_model(d, "source.h5")
    p = write_model(d / "virtual.h5", model_config())
    layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "/model_weights/dense/dense/kernel:0", shape=(4, 3))
    with h5py.File(p, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        g.create_virtual_dataset("kernel:0", layout)
    return Case(p, "virtual dataset")


def _directory(d):
    p = d / "adir.h5"
    p.mkdir()
    return Case(p, "directory")


def _missing_path(d):
    return Case(d / "nope.h5", "no such file")


def _fifo_model(d):
    return Case(fifo(d), "not a regular file")


def _device_model(d):
    return Case(Path("/dev/zero"), "not a regular file")


def _zip_bomb(d):
    return Case(keras_zip(d, {"config.json": b"{}", "metadata.json": b"{}",
                              "model.weights.h5": b"\0" * (4 * 2**20)}), "compression ratio")


def _zip_lying_size(d):
    p = keras_zip(d, {"config.json": json.dumps(model_config()).encode(), "metadata.json": b"{}"},
                  compress=zipfile.ZIP_STORED)
    patch_zip_sizes(p, "config.json", 0xFFFFFFF0)
    return Case(p, "over the limit")


def _zip_traversal(d):
    return Case(keras_zip(d, {"../../evil.json": b"{}", "/abs/evil.json": b"{}", "metadata.json": b"{}"}),
                "no config.json")


def _zip_bad_config(d):
    return Case(keras_zip(d, {"config.json": b"[" * 100_000, "metadata.json": b"{}",
                              "model.weights.h5": valid_model(d).read_bytes()}), "nested too deeply")


def _zip_garbage(d):
    p = d / "garbage.keras"
    p.write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(2048))
    return Case(p, "not a readable .keras zip")


def _arch_invalid_json(d):
    arch, weights = valid_arch_and_weights(d)
    arch.write_text('{"class_name": "Model", "config": ')
    return Case(arch, "not valid JSON", weights=weights)


def _arch_deep_json(d):
    arch, weights = valid_arch_and_weights(d)
    arch.write_text("[" * 100_000 + "]" * 100_000)
    return Case(arch, "nested too deeply", weights=weights)


def _arch_weights_random(d):
    arch, weights = valid_arch_and_weights(d)
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    return Case(arch, "not an HDF5 file", weights=weights, blame=weights)


def _arch_weights_fifo(d):
    arch, _ = valid_arch_and_weights(d)
    weights = fifo(d, "wfifo.h5")
    return Case(arch, "not a regular file", weights=weights, blame=weights)


def _arch_weights_missing(d):
    arch, _ = valid_arch_and_weights(d)
    return Case(arch, "no such file", weights=d / "missing_weights.h5", blame=d / "missing_weights.h5")


BAD_MODELS = {f.__name__.strip("_"): f for f in [
    _empty, _random, _random_with_hdf5_signature, _truncated, _not_keras, _weights_only, _invalid_json, _deep_json,
    _deep_json_objects, _deep_param, _config_not_object, _cycle, _missing_layer, _malformed_io_ref,
    _reshape_target_junk, _duplicate_names, _missing_weights, _missing_dataset, _extra_weights, _wrong_kernel_shape,
    _wrong_bias_shape, _weight_not_numbers, _absurd_units,
    _absurd_reshape, _absurd_repeat, _absurd_upsampling, _absurd_padding, _absurd_input, _huge_declared_dataset,
    _external_link, _external_link_group, _external_link_root, _soft_link_dangling, _soft_link_loop,
    _external_storage, _external_storage_with_address, _virtual, _directory, _missing_path, _fifo_model,
    _device_model, _zip_bomb, _zip_lying_size,
    _zip_traversal, _zip_bad_config, _zip_garbage, _arch_invalid_json, _arch_deep_json, _arch_weights_random,
    _arch_weights_fifo, _arch_weights_missing]}


# --- bad reference inputs (for a valid model) ---------------------------------------------------------------------

def _ref_case(p: Path, needle: str) -> Case:
    return Case(Path(), needle, ref=p, blame=p)


def _pickled(d):
    p = d / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return _ref_case(p, "pickled")


def _pickled_in_npz(d):
    p = d / "obj.npz"
    np.savez(p, x=np.array([{"a": 1}, None], dtype=object))
    return _ref_case(p, "pickled")


def _garbage_npy(d):
    p = d / "garbage.npy"
    p.write_bytes(b"\x93NUMPY garbage" * 10)
    return _ref_case(p, "not a readable")


def _huge_header_npy(d):
    """An .npy header declaring 16 GB followed by 64 bytes."""
    p = d / "huge.npy"
    with open(p, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (4, 10**9)})
        fh.write(b"\0" * 64)
    return _ref_case(p, "not a readable")


def _npz_lying_size(d):
    p = d / "lying.npz"
    np.savez(p, x=np.zeros((2, DENSE_IN), np.float32))
    patch_zip_sizes(p, "x.npy", 0xFFFFFFF0)
    return _ref_case(p, "array 'x.npy'")


def _wrong_shape(d):
    p = d / "shape.npy"
    np.save(p, np.zeros((2, 7), np.float32))
    return _ref_case(p, "expects")


def _wrong_rank(d):
    p = d / "rank.npy"
    np.save(p, np.zeros((2, 4, 4, 1), np.float32))
    return _ref_case(p, "expects")


def _wrong_dtype(d):
    p = d / "complex.npy"
    np.save(p, np.zeros((2, 4), np.complex64))
    return _ref_case(p, "dtype")


def _strings(d):
    p = d / "str.npy"
    np.save(p, np.array([["a"] * 4] * 2))
    return _ref_case(p, "dtype")


def _npz_wrong_key(d):
    p = d / "keys.npz"
    np.savez(p, a=np.zeros((2, 4), np.float32), b=np.zeros((2, 4), np.float32))
    return _ref_case(p, "no array for model input 'x'")


def _ref_fifo(d):
    return _ref_case(fifo(d, "ref_fifo.npy"), "not a regular file")


def _ref_device(d):
    return _ref_case(Path("/dev/zero"), "not a regular file")


def _ref_directory(d):
    p = d / "refdir.npy"
    p.mkdir()
    return _ref_case(p, "directory")


def _ref_missing(d):
    return _ref_case(d / "nope.npy", "no such file")


def _ref_empty(d):
    p = d / "empty.npy"
    p.write_bytes(b"")
    return _ref_case(p, "is empty")


BAD_REFS = {f.__name__.strip("_"): f for f in [
    _pickled, _pickled_in_npz, _garbage_npy, _huge_header_npy, _npz_lying_size, _wrong_shape, _wrong_rank,
    _wrong_dtype, _strings, _npz_wrong_key, _ref_fifo, _ref_device, _ref_directory, _ref_missing, _ref_empty]}
