"""graph_order lists a functional model's layers as tf.keras 2 and Keras 3 do after loading it (which both pair the
stored weights with), whatever order the config listed them in."""

from __future__ import annotations

from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef
from kstep.write.graph_order import graph_order


def _layer(name: str, *calls: list[TensorRef]) -> LayerSpec:
    kind = "InputLayer" if not calls else "Dense"
    return LayerSpec(name, kind, kind, {}, calls=[LayerCall(list(c)) for c in calls])


def test_order_is_the_one_real_keras_lists():
    """Two inputs, a shared layer called twice, a merge, two outputs. The expected order is what tf_keras 2.21 and
    Keras 3.15 print for `[l.name for l in model.layers]` of the same graph built with their functional API (run in
    the modern oracle venv); the spec lists the layers in another order."""
    t = TensorRef
    layers = [
        _layer("side", [t("x")]),
        _layer("out", [t("cat")]),
        _layer("cat", [t("s", 1), t("b"), t("s", 0)]),
        _layer("s", [t("b")], [t("c")]),
        _layer("c", [t("a")]),
        _layer("b", [t("y")]),
        _layer("a", [t("x")]),
        _layer("y"),
        _layer("x"),
    ]
    model = ModelSpec("m", "Functional", layers, inputs=[t("x"), t("y")], outputs=[t("out"), t("side")])
    assert [s.name for s in graph_order(model)] == ["x", "a", "y", "c", "b", "s", "cat", "out", "side"]


def test_deep_chain_does_not_recurse():
    """A 5,000-layer chain is ordered without hitting Python's recursion limit."""
    layers = [_layer("in")] + [_layer(f"d{i}", [TensorRef(f"d{i - 1}" if i else "in")]) for i in range(5000)]
    model = ModelSpec("m", "Functional", layers, inputs=[TensorRef("in")], outputs=[TensorRef("d4999")])
    assert [s.name for s in graph_order(model)] == [s.name for s in layers]
