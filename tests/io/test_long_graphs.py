"""Long graphs in linear time (issue 12, "limits"): layer lookups by name are a map, the execution order and the
static items are linear, and alignment cuts long execution orders at anchors (equal keys) so its quadratic
programme only sees short stretches; a stretch too long for it is paired greedily, with a note.

Bounds are on CPU time (time.process_time), so they hold on a loaded machine; with the former linear scans and the
full O(n*m) alignment each of them takes tens of seconds.
"""

from __future__ import annotations

import random
import time

from kstep.cli import main
from kstep.compare import align as align_mod
from kstep.compare.align import Item, align
from kstep.compare.pending import static_items
from kstep.io.context import make_context
from kstep.io.detect import detect
from kstep.io.graph import GraphParser
from kstep.io.order import execution_order
from tests.hostile import make_bounds as mb


def _chain_config(n: int, prefix: str = "") -> dict:
    layers: list[dict] = [{"name": "x", "class_name": "InputLayer", "inbound_nodes": [],
                           "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "x"}}]
    prev = "x"
    for i in range(n):
        name = f"{prefix}{'dense' if i % 2 == 0 else 'act'}_{i}"
        cls, cfg = ("Dense", {"units": 2}) if i % 2 == 0 else ("Activation", {"activation": "tanh"})
        layers.append({"name": name, "class_name": cls, "config": dict(cfg, name=name),
                       "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = name
    return {"class_name": "Model", "config": {"name": "chain", "layers": layers, "input_layers": [["x", 0, 0]],
                                              "output_layers": [[prev, 0, 0]]}}


def _parse(config: dict):
    det = detect("2.2.4", "tensorflow", [], {})
    return GraphParser(make_context(config, det.semantics, {}), "chain.json").model(config)


def test_long_chain_parses_orders_and_looks_up_in_linear_time():
    """20,000 layers: parse, execution order, static items and every lookup by name (each one was a scan)."""
    model = _parse(_chain_config(20_000))
    start = time.process_time()
    order = execution_order(model)
    items = static_items(model)
    found = [model.layer(name).name for name, _ in order]
    elapsed = time.process_time() - start
    assert len(order) == len(items) == 20_000 and found == [name for name, _ in order]
    assert elapsed < 5.0, elapsed


def test_layer_lookup_follows_changes():
    model = _parse(_chain_config(4))
    assert model.layer("dense_0").name == "dense_0"
    model.layers[1].name = "renamed"
    assert model.layer("renamed") is model.layers[1]
    try:
        model.layer("dense_0")
    except KeyError:
        pass
    else:
        raise AssertionError("a renamed layer is still found under its old name")
    model.layers = model.layers[:2]
    assert model.layer("renamed") is model.layers[1]


def test_alignment_of_long_equal_orders_is_linear():
    items = [Item(f"l{i}", f"l{i}", "Dense") for i in range(6000)]
    start = time.process_time()
    pairs = align(items, list(items))
    assert time.process_time() - start < 5.0
    assert pairs == [(it, it) for it in items]


def test_alignment_of_long_renamed_orders_is_bounded_with_a_note():
    """5,000 calls on each side without one common name (Keras 1 vs Keras 2 auto-names): 25 million cells for
    the exact programme; paired greedily by kind instead, in order, and said so."""
    kinds = ["Conv2D", "Activation", "MaxPooling2D", "Dense"]
    old = [Item(f"convolution2d_{i}", f"convolution2d_{i}", kinds[i % 4]) for i in range(5000)]
    new = [Item(f"conv2d_{i}", f"conv2d_{i}", kinds[i % 4]) for i in range(5000)]
    notes: list[str] = []
    start = time.process_time()
    pairs = align(old, new, notes=notes)
    assert time.process_time() - start < 5.0
    assert pairs == list(zip(old, new))
    assert notes and "paired greedily" in notes[0]


def _valid(pairs, old, new, score_ok) -> None:
    assert [o for o, _ in pairs if o is not None] == old
    assert [n for _, n in pairs if n is not None] == new
    assert all(score_ok(o, n) for o, n in pairs if o is not None and n is not None)


def test_anchored_alignment_matches_the_exact_one_on_shared_names(monkeypatch):
    """Random edits of one order (drops, inserts, renames): the anchored alignment is a valid alignment, pairs
    every equal key the exact one pairs, and is identical to it when the exact one is affordable."""
    rng = random.Random(12)
    kinds = ["Dense", "Activation", "Dropout"]
    for trial in range(40):
        old = [Item(f"n{i}", f"n{i}", rng.choice(kinds)) for i in range(rng.randint(5, 60))]
        new = []
        for it in old:
            r = rng.random()
            if r < 0.1:
                continue
            if r < 0.2:
                new.append(Item(f"r{trial}_{it.key}", f"r{trial}_{it.key}", it.kind))
            else:
                new.append(it)
            if rng.random() < 0.1:
                new.append(Item(f"extra{len(new)}", f"extra{len(new)}", rng.choice(kinds)))
        exact = align(old, new)
        monkeypatch.setattr(align_mod, "EXACT_CELLS", 16)
        anchored = align(old, new)
        monkeypatch.setattr(align_mod, "EXACT_CELLS", 1_000_000)
        _valid(anchored, old, new, lambda o, n: o.key == n.key or o.kind == n.kind)
        same_key = {o.key for o, n in exact if o is not None and n is not None and o.key == n.key}
        assert same_key <= {o.key for o, n in anchored if o is not None and n is not None and o.key == n.key}


def test_long_chain_file_inspect_and_report(tmp_path, capsys):
    """A 3,000-layer Dense/Activation chain .h5: inspected, and reported against itself as agreeing (the exact
    alignment alone was 9 million cells)."""
    import numpy as np

    path = mb.chain_h5(tmp_path / "chain.h5", 3000)
    ref = tmp_path / "ref.npy"
    np.save(ref, np.ones((1, 2), np.float32))
    start = time.process_time()
    assert main(["inspect", str(path)]) == 0
    inspect_cpu = time.process_time() - start
    assert "a2999" in capsys.readouterr().out
    assert main(["report", str(path), str(path), str(ref)]) == 0
    assert inspect_cpu < 10.0, inspect_cpu
