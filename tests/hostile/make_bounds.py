"""Provides builders for files that bound kstep's time and memory (issue 12, "limits"): long layer chains, HDF5
hard-link DAGs, compressed datasets that inflate far beyond their file, forged .npy headers, absurd attributes.
Everything is generated at test time into a temporary folder and is kilobytes on disk (the long chains: a few MB).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np

READER = Path(__file__).resolve().parents[1] / "fixtures" / "modern" / "reader"
K3_SMALL = READER / "k3_small_zip.keras"


def chain_h5(path: Path, n: int, version: bytes = b"2.2.4") -> Path:
    """A functional Keras 2 model of `n` layers after its input: Dense(2) and Activation('tanh') alternating."""
    layers: list[dict] = [{"name": "x", "class_name": "InputLayer", "inbound_nodes": [],
                           "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "x"}}]
    names, prev = ["x"], "x"
    for i in range(n):
        if i % 2 == 0:
            name, cls, cfg = f"d{i}", "Dense", {"units": 2, "activation": "linear", "use_bias": True}
        else:
            name, cls, cfg = f"a{i}", "Activation", {"activation": "tanh"}
        layers.append({"name": name, "class_name": cls, "config": dict(cfg, name=name),
                       "inbound_nodes": [[[prev, 0, 0, {}]]]})
        names.append(name)
        prev = name
    config = {"class_name": "Model", "config": {"name": "chain", "layers": layers, "input_layers": [["x", 0, 0]],
                                                "output_layers": [[prev, 0, 0]]}}
    kernel, bias = np.eye(2, dtype=np.float32) * 0.5, np.zeros(2, np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["keras_version"] = version
        g.attrs["backend"] = b"tensorflow"
        encoded = [n.encode() for n in names]
        for k in range(0, len(encoded), 2000):  # Keras chunks long name lists (64 kB attribute limit)
            g.attrs[f"layer_names{k // 2000}"] = np.array(encoded[k:k + 2000])
        for name in names:
            lg = g.create_group(name)
            if name.startswith("d"):
                lg.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
                lg.create_dataset(f"{name}/kernel:0", data=kernel)
                lg.create_dataset(f"{name}/bias:0", data=bias)
            else:
                lg.attrs["weight_names"] = np.zeros(0)
    return path


def _rewrite_k3_weights(path: Path, edit) -> Path:
    """The small real Keras 3 archive with its model.weights.h5 passed through `edit(h5py.File)`."""
    with zipfile.ZipFile(K3_SMALL) as src:
        members = {name: src.read(name) for name in src.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    out = io.BytesIO()
    with h5py.File(buf, "r") as old, h5py.File(out, "w") as new:
        for key in old:
            old.copy(old[key], new, name=key)
        edit(new)
    members["model.weights.h5"] = out.getvalue()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def k3_link_dag(path: Path, depth: int = 40) -> Path:
    """Under layers/dense: g0 -> {a, b} -> g1 -> {a, b} -> ... g<depth>: hard links only, 2**depth paths."""
    def edit(f):
        groups = [f.create_group(f"dag/g{i}") for i in range(depth + 1)]
        for i in range(depth):
            groups[i]["a"] = groups[i + 1]
            groups[i]["b"] = groups[i + 1]
        f["layers/dense"]["sub"] = groups[0]
    return _rewrite_k3_weights(path, edit)


def k3_link_loop(path: Path) -> Path:
    """layers/dense/loop is a hard link back to layers/dense itself."""
    def edit(f):
        f["layers/dense"]["loop"] = f["layers/dense"]
    return _rewrite_k3_weights(path, edit)


def k3_deep_groups(path: Path, depth: int = 400) -> Path:
    """Groups nested `depth` deep under layers/dense (no links): deeper than any object tree Keras writes."""
    def edit(f):
        f.create_group("layers/dense/" + "/".join("n" for _ in range(depth)))
    return _rewrite_k3_weights(path, edit)


def _zeros_stream(nbytes: int) -> bytes:
    """A zlib stream of `nbytes` zero bytes, compressed piece by piece (never `nbytes` in memory)."""
    packer = zlib.compressobj(9)
    piece = bytes(2**20)
    parts = [packer.compress(piece) for _ in range(nbytes // len(piece))]
    parts.append(packer.compress(bytes(nbytes % len(piece))))
    parts.append(packer.flush())
    return b"".join(parts)


def _replace_kernel(model: Path, make) -> Path:
    """The hostile suite's valid model with dense/kernel:0 replaced by `make(group, name)`."""
    with h5py.File(model, "a") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        make(g, "kernel:0")
    return model


def huge_chunk(model: Path, chunk_bytes: int = 2**28) -> Path:
    """The (4, 3) kernel stored in ONE gzip chunk of `chunk_bytes` (reading 48 bytes inflates the whole chunk)."""
    width = chunk_bytes // (4 * 4)

    def make(g, name):
        ds = g.create_dataset(name, shape=(4, 3), maxshape=(None, None), chunks=(4, width), dtype="f4",
                              compression="gzip")
        ds.id.write_direct_chunk((0, 0), _zeros_stream(chunk_bytes))
    return _replace_kernel(model, make)


def inflating_chunk(model: Path, inflates_to: int = 2**28) -> Path:
    """The (4, 3) kernel in a 48-byte gzip chunk whose stream inflates to `inflates_to` bytes."""
    def make(g, name):
        ds = g.create_dataset(name, shape=(4, 3), chunks=(4, 3), dtype="f4", compression="gzip")
        ds.id.write_direct_chunk((0, 0), _zeros_stream(inflates_to))
    return _replace_kernel(model, make)


def huge_gzip_dataset(model: Path, declared: int = 20 * 10**9) -> Path:
    """The kernel declared as 20 GB of gzip chunks, one chunk of them stored (the rest would be fill value)."""
    cols = declared // (4 * 4)

    def make(g, name):
        ds = g.create_dataset(name, shape=(4, cols), chunks=(4, 2**16), dtype="f4", compression="gzip")
        ds.id.write_direct_chunk((0, 0), _zeros_stream(4 * 4 * 2**16))
    return _replace_kernel(model, make)


def npy_bytes(header: dict | bytes, body: bytes = b"", version: tuple[int, int] = (1, 0),
              length: int | None = None) -> bytes:
    """An .npy file written by hand: any format version, any header text, any declared header length."""
    text = header if isinstance(header, bytes) else repr(header).encode("utf-8" if version == (3, 0) else "latin-1")
    size_len = 2 if version == (1, 0) else 4
    pad = (-(8 + size_len + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    declared = len(text) if length is None else length
    return b"\x93NUMPY" + bytes(version) + declared.to_bytes(size_len, "little") + text + body


def k3_metadata_version(path: Path, version: str) -> Path:
    """The small real Keras 3 archive with metadata.json's keras_version replaced."""
    with zipfile.ZipFile(K3_SMALL) as src:
        members = {name: src.read(name) for name in src.namelist()}
    members["metadata.json"] = json.dumps({"keras_version": version}).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def absurd_attribute(model: Path, out: Path, name: str, value) -> Path:
    """`model` rewritten with root (and model_weights) attribute `name` set to `value`; written with libver
    'latest' so attributes over 64 kB fit (dense attribute storage)."""
    with h5py.File(model, "r") as src, h5py.File(out, "w", libver="latest") as f:
        for key, val in src.attrs.items():
            f.attrs[key] = val
        src.copy(src["model_weights"], f, name="model_weights")
        f.attrs[name] = value
        if name != "model_config":
            f["model_weights"].attrs[name] = value
    return out
