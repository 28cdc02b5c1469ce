"""Stored weight shapes against the layer config, for every kind with weights (the rules in kstep/weight_shapes.py,
attached to kstep.kinds records), and absurd size params and cycles through nested models (issue 12).

Each case is a one-layer model generated without Keras (tests/hostile/make_hostile.py's Keras-2-style writer) with
the weights its config needs: it must inspect cleanly, and with one weight's shape contradicting the config (or the
other weights) every command must refuse it in one line naming the file, the layer, the weight and both shapes.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.order import execution_order
from kstep.io.weights import check_shapes
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef, WeightRef
from kstep.kinds import KINDS
from tests.hostile import make_hostile as mk
from tests.hostile.test_hostile import COMMANDS, check_refused, run


def _model(path, in_shape, cls, config, weights, dtype="float32", version=b"2.2.4"):
    """x (InputLayer) -> one layer `cls` named 'L' with `weights` [(name, shape)]."""
    layers = [
        {"name": "x", "class_name": "InputLayer",
         "config": {"batch_input_shape": [None, *in_shape], "dtype": dtype, "name": "x"}, "inbound_nodes": []},
        {"name": "L", "class_name": cls, "config": dict(config, name="L"), "inbound_nodes": [[["x", 0, 0, {}]]]},
    ]
    config = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
                                                "output_layers": [["L", 0, 0]]}}
    rng = np.random.default_rng(0)
    ws = {"L": [(f"L/{n}:0", rng.normal(size=s).astype(np.float32)) for n, s in weights]}
    return mk.write_model(path, config, weights=ws, layer_names=["x", "L"], version=version)


CONV = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
        "dilation_rate": [1, 1], "activation": "linear", "use_bias": True}
# kind: (input shape, class, config, [(weight, good shape)], (index of the weight to break, bad shape))
CASES = {
    "Dense": ((4,), "Dense", {"units": 3}, [("kernel", (4, 3)), ("bias", (3,))], (1, ())),
    "Conv2D": ((5, 5, 1), "Conv2D", dict(CONV, filters=2), [("kernel", (3, 3, 1, 2)), ("bias", (2,))],
               (0, (3, 2, 1, 2))),
    "Conv2DTranspose": ((5, 5, 1), "Conv2DTranspose", dict(CONV, filters=2),
                        [("kernel", (3, 3, 2, 1)), ("bias", (2,))], (0, (3, 3, 1, 5))),
    "SeparableConv2D": ((5, 5, 1), "SeparableConv2D", dict(CONV, filters=4, depth_multiplier=2),
                        [("depthwise_kernel", (3, 3, 1, 2)), ("pointwise_kernel", (1, 1, 2, 4)), ("bias", (4,))],
                        (1, (1, 1, 3, 4))),
    "DepthwiseConv2D": ((5, 5, 3), "DepthwiseConv2D", dict(CONV, depth_multiplier=2),
                        [("depthwise_kernel", (3, 3, 3, 2)), ("bias", (6,))], (1, (3,))),
    "LocallyConnected1D": ((6, 2), "LocallyConnected1D", dict(CONV, filters=2, kernel_size=[3], strides=[1],
                                                              dilation_rate=[1]),
                           [("kernel", (4, 6, 2)), ("bias", (4, 2))], (1, (3, 2))),
    "LocallyConnected2D": ((5, 5, 1), "LocallyConnected2D", dict(CONV, filters=2),
                           [("kernel", (9, 9, 2)), ("bias", (3, 3, 2))], (1, (2, 3, 2))),
    "LayerNormalization": ((4,), "LayerNormalization", {"axis": -1}, [("gamma", (4,)), ("beta", (4,))], (0, ())),
    "GroupNormalization": ((4,), "GroupNormalization", {"groups": 2}, [("gamma", (4,)), ("beta", (4,))],
                           (0, (3,))),
    "BatchNormalization": ((4,), "BatchNormalization", {},
                           [("gamma", (4,)), ("beta", (4,)), ("moving_mean", (4,)), ("moving_variance", (4,))],
                           (3, ())),
    "PReLU": ((4, 2), "PReLU", {"shared_axes": [1]}, [("alpha", (1, 2))], (0, (4, 2))),
    "Embedding": ((5,), "Embedding", {"input_dim": 10, "output_dim": 3}, [("embeddings", (10, 3))], (0, (10, 4))),
    "LSTM": ((5, 4), "LSTM", {"units": 3}, [("kernel", (4, 12)), ("recurrent_kernel", (3, 12)), ("bias", (12,))],
             (2, ())),
    "CuDNNLSTM": ((5, 4), "CuDNNLSTM", {"units": 3},
                  [("kernel", (4, 12)), ("recurrent_kernel", (3, 12)), ("bias", (24,))], (1, (3, 9))),
    "ConvLSTM2D": ((2, 5, 5, 1), "ConvLSTM2D", dict(CONV, filters=2),
                   [("kernel", (3, 3, 1, 8)), ("recurrent_kernel", (3, 3, 2, 8)), ("bias", (8,))], (1, (3, 3, 2, 4))),
    "Highway": ((4,), "Highway", {"activation": "linear", "bias": True},
                [("W", (4, 4)), ("W_carry", (4, 4)), ("b", (4,)), ("b_carry", (4,))], (1, (4, 3))),
    "MaxoutDense": ((4,), "MaxoutDense", {"output_dim": 3, "nb_feature": 2, "bias": True},
                    [("W", (2, 4, 3)), ("b", (2, 3))], (1, (3, 2))),
    "EinsumDense": ((4,), "EinsumDense", {"equation": "ab,bc->ac", "output_shape": [3], "bias_axes": "c"},
                    [("kernel", (4, 3)), ("bias", (3,))], (0, (4, 5))),
}


def _case(tmp_path, kind, broken):
    in_shape, cls, config, weights, (index, bad) = CASES[kind]
    weights = list(weights)
    if broken:
        weights[index] = (weights[index][0], bad)
    dtype = "int32" if kind == "Embedding" else "float32"
    return _model(tmp_path / f"{kind}.h5", in_shape, cls, config, weights, dtype), weights[index]


@pytest.mark.parametrize("kind", list(CASES))
def test_weights_the_config_fixes_are_accepted(kind, tmp_path, capsys):
    """The same model with the shapes its config needs reads cleanly (the rule does not refuse good files)."""
    model, _ = _case(tmp_path, kind, broken=False)
    code, _, err, _, _ = run(["inspect", model], capsys, [model])
    assert code == 0, err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", list(CASES))
def test_contradicting_weight_shape_is_refused_by_every_command(kind, command, tmp_path, capsys):
    model, (wname, bad) = _case(tmp_path, kind, broken=True)
    ref = mk.valid_input(tmp_path)
    line = check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref],
                         f"weight 'L/{wname}:0' has shape {bad}, its config needs", model)
    assert "layer 'L'" in line


def _refs(**shapes):
    return [WeightRef(n, s, "float32", (s,), lambda s=s: np.zeros(s, "float32")) for n, s in shapes.items()]


@pytest.mark.parametrize("params, weights, ok", [
    ({"num_heads": 2, "key_dim": 3}, [(4, 2, 3), (2, 3), (4, 2, 3), (2, 3), (4, 2, 3), (2, 3), (2, 3, 4), (4,)], True),
    ({"num_heads": 2, "key_dim": 3}, [(4, 2, 3), (2, 3), (4, 2, 5), (2, 3), (4, 2, 3), (2, 3), (2, 3, 4), (4,)], False),
    ({"num_heads": 2, "key_dim": 3, "value_dim": 5}, [(4, 2, 3), (4, 2, 3), (4, 2, 5), (2, 5, 4)], True),
    ({"num_heads": 2, "key_dim": 3, "value_dim": 5}, [(4, 2, 3), (4, 2, 3), (4, 2, 5), (2, 3, 4)], False),
])
def test_multi_head_attention_shapes(params, weights, ok):
    """MultiHeadAttention's weights are positional (not named by the table): q/k/v kernels (in, heads, dim), their
    biases (heads, dim), the output kernel (heads, value_dim, out) and bias (out,)."""
    spec = LayerSpec("mha", "MultiHeadAttention", "MultiHeadAttention", dict(params))
    refs = _refs(**{f"w{i}": s for i, s in enumerate(weights)})
    if ok:
        check_shapes(spec, refs, "f.h5")
    else:
        with pytest.raises(BadInput, match="layer 'mha' \\(MultiHeadAttention\\): weight 'w\\d' has shape"):
            check_shapes(spec, refs, "f.h5")


@pytest.mark.parametrize("kind, params, weights", [
    ("Attention", {"use_scale": True}, {"scale": (3,)}),
    ("AdditiveAttention", {}, {"scale": ()}),
    ("SReLU", {}, {"t_left": (4,), "a_left": (4,), "t_right": (3,), "a_right": (4,)}),
    ("ParametricSoftplus", {}, {"alphas": (), "betas": ()}),
    ("SeparableConv1D", {"kernel_size": (3,), "filters": 2, "depth_multiplier": 1, "use_bias": True},
     {"depthwise_kernel": (3, 2, 1), "pointwise_kernel": (1, 2, 3), "bias": (2,)}),
    ("Conv3DTranspose", {"kernel_size": (2, 2, 2), "filters": 4, "use_bias": False}, {"kernel": (2, 2, 2, 3, 4)}),
    ("DepthwiseConv1D", {"kernel_size": (3,), "depth_multiplier": 2, "use_bias": True},
     {"depthwise_kernel": (3, 4, 2), "bias": (4,)}),
    ("CuDNNGRU", {"units": 2}, {"kernel": (3, 6), "recurrent_kernel": (2, 6), "bias": (6, 2)}),
    ("ConvLSTM1D", {"kernel_size": (3,), "filters": 2, "use_bias": True},
     {"kernel": (3, 1, 8), "recurrent_kernel": (3, 2, 8), "bias": (2,)}),
])
def test_other_kinds_refuse_contradictions(kind, params, weights):
    """Kinds not in CASES: one contradiction each is refused (metadata only: the loaders would fail if called)."""
    refs = [WeightRef(n, s, "float32", (s,), lambda: pytest.fail("an array was read")) for n, s in weights.items()]
    with pytest.raises(BadInput, match=f"layer 'l' \\({kind}\\): weight '\\w+' has shape .*its config needs"):
        check_shapes(LayerSpec("l", kind, kind, dict(params)), refs, "f.h5")


@pytest.mark.parametrize("kind", list(CASES))
def test_the_check_reads_no_array(kind, tmp_path, capsys, monkeypatch):
    """The refusal comes from metadata alone: reading any weight array would fail this test."""
    def no_read(*args, **kwargs):
        raise AssertionError("a weight array was read")

    monkeypatch.setattr(h5safe, "read_dataset", no_read)
    model, (wname, bad) = _case(tmp_path, kind, broken=True)
    code, _, err, _, _ = run(["inspect", model], capsys, [model])
    assert code == 2 and f"has shape {bad}" in err[0], err


# --- absurd size params ---------------------------------------------------------------------------------------------

def _dense_units(d, units):
    return mk.write_model(d / "units.h5", mk.model_config(mk._layers(dense_units=units)))


def _conv_param(d, key, value):
    config = dict(CONV, filters=2)
    config[key] = value
    return _model(d / "conv.h5", (5, 5, 1), "Conv2D", config, [("kernel", (3, 3, 1, 2)), ("bias", (2,))])


ABSURD = {
    "units_1e18": (lambda d: _dense_units(d, 1e18), "absurdly large"),
    "units_float": (lambda d: _dense_units(d, 3.5), "units 3.5 is not an integer"),
    "units_negative": (lambda d: _dense_units(d, -1), "units -1 is negative"),
    "units_bool": (lambda d: _dense_units(d, True), "units True is not an integer"),
    "units_list": (lambda d: _dense_units(d, [3]), "units [3] is not an integer"),
    "filters_float": (lambda d: _conv_param(d, "filters", 2.5), "filters 2.5 is not an integer"),
    "filters_1e18": (lambda d: _conv_param(d, "filters", 1e18), "absurdly large"),
    "kernel_size_zero": (lambda d: _conv_param(d, "kernel_size", [0, 3]), "kernel_size [0, 3] has an entry below 1"),
    "kernel_size_float": (lambda d: _conv_param(d, "kernel_size", 2.5), "kernel_size 2.5 is not an integer"),
    "kernel_size_1e18": (lambda d: _conv_param(d, "kernel_size", [1e18, 3]), "absurdly large"),
    "strides_zero": (lambda d: _conv_param(d, "strides", 0), "strides 0 has an entry below 1"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_size_params_are_refused_by_every_command(case, command, tmp_path, capsys):
    make, needle = ABSURD[case]
    model = make(tmp_path)
    ref = mk.valid_input(tmp_path)
    check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref], needle, model)


# --- cycles through nested models -----------------------------------------------------------------------------------

def _nested(d, name, inner_cycle=False, outer_cycle=False):
    """x -> m (a nested model: dense -> reshape -> flatten); the cycle runs inside m or through m's call."""
    inner = copy.deepcopy(mk.model_config()["config"])
    if inner_cycle:
        inner["layers"][1]["inbound_nodes"] = [[["flatten", 0, 0, {}]]]
    layers = [{"name": "x", "class_name": "InputLayer",
               "config": {"batch_input_shape": [None, mk.DENSE_IN], "dtype": "float32", "name": "x"},
               "inbound_nodes": []},
              {"name": "m", "class_name": "Model", "config": inner,
               "inbound_nodes": [[["m", 1, 0, {}]]] if outer_cycle else [[["x", 0, 0, {}]]]}]
    config = {"class_name": "Model", "config": {"name": "outer", "layers": layers, "input_layers": [["x", 0, 0]],
                                                "output_layers": [["m", 1, 0]]}}
    ws = {"m": mk.dense_weights()["dense"]}
    return mk.write_model(d / name, config, weights=ws, layer_names=["x", "m"])


def test_nested_model_without_a_cycle_reads(tmp_path, capsys):
    model = _nested(tmp_path, "ok.h5")
    assert run(["inspect", model], capsys, [model])[0] == 0


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_nested_model_fed_by_its_own_output_is_refused(command, tmp_path, capsys):
    model = _nested(tmp_path, "self.h5", outer_cycle=True)
    check_refused(COMMANDS[command](model, None, mk.valid_input(tmp_path), tmp_path / "o.npz"), capsys, [model],
                  "cycle", model)


def _order_checks_nested_models() -> bool:
    """Whether kstep.io.order.execution_order (helper H's file) orders nested models too, at load time."""
    inner = ModelSpec("inner", "Model", [LayerSpec("a", "Dense", "Dense", {}, calls=[LayerCall([TensorRef("a")])])],
                      [], [TensorRef("a")])
    outer = ModelSpec("outer", "Model", [LayerSpec("m", "Model", "Model", {}, inner=inner)], [], [])
    try:
        execution_order(outer)
    except BadInput:
        return True
    return False


NEEDS_ORDER = pytest.mark.xfail(
    not _order_checks_nested_models(), strict=True,
    reason="a nested model's graph is ordered only when executed (report/app: no file name in the line; inspect "
           "misses it): "
           "needs kstep/io/order.py (helper H's file) to order nested models at load time (issue-12 helper I report)")


@pytest.mark.parametrize("command", [c if c == "dump" else pytest.param(c, marks=NEEDS_ORDER) for c in COMMANDS])
def test_a_cycle_inside_a_nested_model_is_refused(command, tmp_path, capsys):
    model = _nested(tmp_path, "inner.h5", inner_cycle=True)
    check_refused(COMMANDS[command](model, None, mk.valid_input(tmp_path), tmp_path / "o.npz"), capsys, [model],
                  "cycle", model)


def test_every_kind_with_weights_has_a_shape_rule():
    """The table is the one place: a kind that lists weights also says how their shapes follow from its config."""
    missing = [k for k, record in KINDS.items() if record.weights and record.shapes is None]
    assert not missing, missing
