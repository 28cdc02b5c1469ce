"""The one visit of a legacy weights group (kstep.io.layer_groups, issue 12 "a 50k-layer file must be inspected in
seconds"): HDF5 work per layer bounded by counting calls (not by a clock, so it holds on a loaded machine), the
fast path equal to the general one, and the general path still taking every unusual layout with its own message.
"""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

from kstep.cli import main
from kstep.describe import describe, to_text
from kstep.errors import BadInput
from kstep.io import h5safe, layer_groups, load
from kstep.io.layer_groups import stored_by_layer
from kstep.io.load import open_model
from kstep.io.weights import Stored, stored_from_group
from tests.hostile import make_bounds as mb


class Counter:
    """Counts calls of h5py's low-level object and attribute openers (every high-level access goes through them)."""

    def __init__(self, monkeypatch):
        self.calls = {"h5o.open": 0, "h5d.open": 0, "h5a.open": 0, "h5a.get_info": 0, "h5o.get_info": 0,
                      "link checks": 0, "property lists": 0}
        for mod, name in ((h5py.h5o, "open"), (h5py.h5d, "open"), (h5py.h5a, "open"), (h5py.h5a, "get_info"),
                          (h5py.h5o, "get_info")):
            monkeypatch.setattr(mod, name, self._wrap(getattr(mod, name), f"{mod.__name__.split('.')[-1]}.{name}"))
        # (methods of h5py's ids cannot be wrapped: the link-type question of one path, and asking a dataset's
        # creation property list, are counted at kstep's functions that make them)
        monkeypatch.setattr(layer_groups, "_hard_or_soft", self._wrap(layer_groups._hard_or_soft, "link checks"))
        storage = h5safe._storage

        def counted_storage(did):
            out = storage(did)
            self.calls["property lists"] += out[0] is not None
            return out
        monkeypatch.setattr(h5safe, "_storage", counted_storage)

    def _wrap(self, fn, key):
        def counted(*args, **kwargs):
            self.calls[key] += 1
            return fn(*args, **kwargs)
        return counted


@pytest.mark.parametrize("n", [400, 1200])
def test_inspect_opens_each_dataset_once_and_reads_none(n, tmp_path, monkeypatch):
    """A chain of n/2 Dense(2) (two datasets each, under a subgroup) and n/2 Activation layers: inspect opens each
    dataset once and no group (was: every group, subgroup and dataset, then every dataset again to read it for
    the output shapes), opens only the weight_names that hold names, asks each link below a layer once and no
    dataset's creation property list, and reads no array (the shapes are metadata-only). The bound is in calls,
    not seconds: each HDF5 call costs 2-60 us (benchmarks/many_layers.py hdf5-costs)."""
    path = mb.chain_h5(tmp_path / "chain.h5", n)

    def no_read(*args, **kwargs):
        raise AssertionError("inspect read a weight array")

    monkeypatch.setattr(h5safe, "read_dataset", no_read)
    counter = Counter(monkeypatch)
    with open_model(str(path)) as mf:
        doc = describe(mf)
    datasets, layers, dense = n, n + 1, n // 2  # n/2 Dense x 2; the layers and the input
    assert doc["shapes_note"] is None and doc["model"]["outputs"][0]["shape"] == [None, 2]
    calls = counter.calls
    assert calls["h5o.open"] + calls["h5d.open"] <= datasets + 10, calls
    # weight_names: sized by its info; opened only where it holds names (a weightless layer's is 0 bytes)
    assert calls["h5a.get_info"] <= layers + 10 and calls["h5a.open"] <= dense + 20, calls
    # links: the weights group's in one iteration; below a layer, one question per link (subgroup, kernel, bias)
    assert calls["link checks"] <= 3 * dense + 10, calls
    # a contiguous dataset's storage: its address and its header's message types, no creation property list
    assert calls["h5o.get_info"] <= datasets + 10 and calls["property lists"] == 0, calls


def _stored(by_layer):
    return {name: [(s.name, s.shape, s.dtype, s.read().tolist()) for s in stored] for name, stored in by_layer.items()}


def _odd_layouts(path):
    """A small chain whose layers use what the fast path hands to the general one."""
    mb.chain_h5(path, 6)
    with h5py.File(path, "a") as f:
        mw = f["model_weights"]
        g = mw["d2"]  # weight names with empty parts
        g.attrs["weight_names"] = np.array([b"/d2/kernel:0", b"d2//bias:0"])
        g = mw["d4"]  # weight names as a variable-length string array (an h5py >= 3 writer)
        del g.attrs["weight_names"]
        g.attrs.create("weight_names", ["d4/kernel:0", "d4/bias:0"], dtype=h5py.string_dtype())
        g = mw["a1"]  # a weightless layer's names as a null dataspace (h5py.Empty): no names, on both paths
        del g.attrs["weight_names"]
        g.attrs["weight_names"] = h5py.Empty("S1")
        g = mw["d0"]  # a soft link on the path
        g["alias"] = h5py.SoftLink(g.name + "/d0")
        g.attrs["weight_names"] = np.array([b"alias/kernel:0", b"d0/bias:0"])
    return path


def test_fast_path_equals_general_path(tmp_path):
    """Every layer read by the one visit (fast where it can) equals the per-object general path, values included."""
    for path in (mb.chain_h5(tmp_path / "plain.h5", 8), _odd_layouts(tmp_path / "odd.h5")):
        with h5py.File(path, "r") as f:
            mw = f["model_weights"]
            names = h5safe.attr_list(mw, "layer_names", str(path))
            fast = _stored(stored_by_layer(mw, names, str(path)))
            general = {n: stored_from_group(mw[n], h5safe.attr_list(mw[n], "weight_names", str(path)), str(path), n)
                       for n in names}
            assert fast == _stored(general)
            assert fast["d0"][0][3] == [[0.5, 0.0], [0.0, 0.5]]


@pytest.mark.parametrize("where", ["subgroup", "dataset"])
def test_external_link_on_a_weight_path_is_refused(where, tmp_path, capsys):
    """An external link in the middle of a weight's path (or at its end) is never followed."""
    path = mb.chain_h5(tmp_path / "chain.h5", 4)
    with h5py.File(path, "a") as f:
        g = f["model_weights/d2"]
        if where == "subgroup":
            del g["d2"]
            g["d2"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
        else:
            del g["d2/bias:0"]
            g["d2/bias:0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
    assert main(["inspect", str(path)]) == 2
    assert "external link" in capsys.readouterr().err


def test_missing_group_and_dataset_keep_their_messages(tmp_path):
    """A listed weight without its dataset, a listed layer without its group: the general path's messages."""
    path = mb.chain_h5(tmp_path / "chain.h5", 4)
    with h5py.File(path, "a") as f:
        del f["model_weights/d2/d2/bias:0"]
    with pytest.raises(BadInput, match="layer 'd2' lists weight 'd2/bias:0' but the file has no such dataset"):
        open_model(str(path))
    with h5py.File(path, "a") as f:
        del f["model_weights/d2"]
    with pytest.raises(BadInput, match="layer_names lists 'd2' but the file has no such group"):
        open_model(str(path))


def _chain_model(n: int, monkeypatch):
    """A functional chain of n Dense(2)/Activation layers read by `load._build` with stored weights made in memory
    (the HDF5 walk replaced: its calls per layer are bounded by the count test above), described and printed."""
    layers: list[dict] = [{"name": "x", "class_name": "InputLayer", "inbound_nodes": [],
                           "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "x"}}]
    prev = "x"
    for i in range(n):
        name, cls, cfg = (f"d{i}", "Dense", {"units": 2}) if i % 2 == 0 else (f"a{i}", "Activation",
                                                                              {"activation": "tanh"})
        layers.append({"name": name, "class_name": cls, "config": dict(cfg, name=name),
                       "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = name
    config = {"class_name": "Model", "config": {"name": "chain", "layers": layers, "input_layers": [["x", 0, 0]],
                                                "output_layers": [[prev, 0, 0]]}}
    names = [entry["name"] for entry in layers]
    kernel, bias = np.eye(2, dtype=np.float32), np.zeros(2, np.float32)
    stored = {name: [Stored(name=f"{name}/kernel:0", shape=(2, 2), dtype="float32", read=lambda: kernel),
                     Stored(name=f"{name}/bias:0", shape=(2,), dtype="float32", read=lambda: bias)]
              if name.startswith("d") else [] for name in names}
    monkeypatch.setattr(load, "stored_by_layer", lambda group, layer_names, path: stored)
    start = time.process_time()
    mf = load._build("chain.h5", "h5", config, None, names, "2.2.4", "tensorflow", {})  # type: ignore[arg-type]
    text = to_text(describe(mf))
    return time.process_time() - start, text


def test_reading_and_describing_cost_per_layer_does_not_grow(monkeypatch):
    """Parsing, attaching weights, ordering, the output-shape run, the inspect document and its text cost the same
    per layer at 5,000 layers as at 500 (CPU time, so a loaded machine does not fail it; best of two). A step
    that is quadratic in the layer count (a lookup by scanning the layers, as before issue 12, took seconds here)
    makes the larger model's per-layer cost several times the smaller's."""
    small = min(_chain_model(500, monkeypatch)[0] for _ in range(2)) / 500
    runs = [_chain_model(5000, monkeypatch) for _ in range(2)]
    seconds, text = min(runs, key=lambda run: run[0])
    assert text.count("\n  4999 a4999  Activation  -> (None, 2)") == 1
    assert seconds / 5000 < 2.5 * small, (seconds, small * 5000)  # quadratic lookups made it 3.5x


def test_remembered_dtypes_equal_h5pys(tmp_path):
    """h5safe.dtype_of (found by H5Tequal among the types already seen) gives h5py's own dtype for every numeric
    type, byte order and width, however the cache was filled (twice over, in both orders)."""
    kinds = ["<f2", "<f4", ">f4", "<f8", ">f8", "<i1", "<i2", ">i2", "<i4", "<i8", "<u1", "<u2", "<u4", ">u8", "?"]
    path = tmp_path / "types.h5"
    with h5py.File(path, "w") as f:
        for k, kind in enumerate(kinds):
            f.create_dataset(f"d{k}", data=np.zeros(3, kind))
    with h5py.File(path, "r") as f:
        for order in (kinds, kinds[::-1], kinds):
            for kind in order:
                did = f[f"d{kinds.index(kind)}"].id
                assert h5safe.dtype_of(did.get_type()) == did.dtype == np.dtype(kind), kind


def test_walk_keeps_the_metadata_cache_at_its_size(tmp_path):
    """HDF5's adaptive metadata cache grows on a low hit rate, and a walk that reads each layer's headers once has
    one: 4,000 layers grew it from 2 to 8 MiB (50,000 layers: the process 180 MiB instead of 118, and slower). The
    walk turns that increase off; the cache stays at its initial size."""
    path = mb.chain_h5(tmp_path / "chain.h5", 4000)
    with h5py.File(path, "r") as f:
        initial = f.id.get_mdc_config().initial_size
        mw = f["model_weights"]
        stored_by_layer(mw, h5safe.attr_list(mw, "layer_names", str(path)), str(path))
        assert f.id.get_mdc_size()[0] <= initial
