"""Wrapper kernels with a small in-test `run_inner`: Bidirectional merge modes, reversal, return_state order, masks
per generation and time_major; TimeDistributed folding, list outputs and its mask rules."""

import numpy as np
import pytest

from kstep.engine.base import Call, Out
from kstep.engine.core import KERNELS as CORE
from kstep.engine.recurrent import KERNELS as RNN
from kstep.engine.wrappers import KERNELS as WRAP
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
TFK = Semantics("tf.keras", "2.21.0", "tensorflow")
K3 = Semantics("keras3", "3.15.1", "numpy")
F32 = np.dtype("float32")
RNN_BASE = dict(units=2, activation="tanh", recurrent_activation="hard_sigmoid", use_bias=True,
                return_sequences=True, return_state=False, go_backwards=False, stateful=False, unroll=False,
                time_major=False)


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    w = [(rng.normal(size=s) * 0.5).astype(np.float32) for s in ((3, 8), (2, 8), (8,))]
    return x, w


def bidir(x, w, sem=K1, mask=None, merge_mode="concat", **rnn):
    """Run Bidirectional(LSTM(**rnn)) and return (out, forward spec, backward spec, inner runner)."""
    params = dict(RNN_BASE, **rnn)
    fwd = LayerSpec("f", "LSTM", "LSTM", params)
    bwd = LayerSpec("b", "LSTM", "LSTM", dict(params, go_backwards=not params["go_backwards"]))
    spec = LayerSpec("bi", "Bidirectional", "Bidirectional", {"merge_mode": merge_mode}, wrapped=[fwd, bwd])

    def inner(s, inputs, masks):
        return RNN["LSTM"](Call(s, inputs, w, sem, F32, masks=masks))

    out = WRAP["Bidirectional"](Call(spec, [x], [], sem, F32, masks=[mask], run_inner=inner))
    return out, fwd, bwd, inner


# --------------------------------------------------------------------------------------------------- Bidirectional

@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_merge_modes(mode, case):
    x, w = case
    out, fwd, bwd, inner = bidir(x, w, merge_mode=mode)
    a = inner(fwd, [x], [None]).outputs[0]
    b = inner(bwd, [x], [None]).outputs[0][:, ::-1]
    expected = {"concat": [np.concatenate([a, b], -1)], "sum": [a + b], "ave": [(a + b) / 2], "mul": [a * b],
                None: [a, b]}[mode]
    assert len(out.outputs) == len(expected) and len(out.masks) == len(expected)
    for got, want in zip(out.outputs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert got.dtype == np.float32


def test_backward_sequence_is_reversed_to_align_with_time(case):
    x, w = case
    out, _, _, inner = bidir(x, w, merge_mode=None)
    fwd_on_reversed = inner(LayerSpec("f", "LSTM", "LSTM", RNN_BASE), [x[:, ::-1].copy()], [None]).outputs[0]
    np.testing.assert_allclose(out.outputs[1], fwd_on_reversed[:, ::-1], rtol=1e-6)


def test_last_outputs_are_not_reversed(case):
    x, w = case
    out, fwd, bwd, inner = bidir(x, w, return_sequences=False)
    want = np.concatenate([inner(fwd, [x], [None]).outputs[0], inner(bwd, [x], [None]).outputs[0]], -1)
    np.testing.assert_allclose(out.outputs[0], want, rtol=1e-6)
    assert out.masks == [None]


@pytest.mark.parametrize("mode,n_main", [("sum", 1), (None, 2)])
def test_return_state_order_is_merged_then_forward_then_backward_states(mode, n_main, case):
    x, w = case
    out, fwd, bwd, inner = bidir(x, w, merge_mode=mode, return_state=True, return_sequences=False)
    f, b = inner(fwd, [x], [None]).outputs, inner(bwd, [x], [None]).outputs
    assert len(out.outputs) == n_main + 4
    for got, want in zip(out.outputs[n_main:], f[1:] + b[1:]):
        np.testing.assert_array_equal(got, want)
    assert out.masks == [None] * (n_main + 4)


def test_masked_steps_repeat_in_keras1_and_are_zero_in_tf_keras_and_keras3(case):
    x, w = case
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    old = bidir(x, w, K1, mask, merge_mode=None)[0]
    np.testing.assert_array_equal(old.outputs[0][0, 2], old.outputs[0][0, 1])  # forward repeats
    np.testing.assert_array_equal(old.outputs[1][0, 2], old.outputs[1][0, 3])  # backward repeats its step 3
    assert old.masks == [mask, mask]
    for sem in (TFK, K3):
        new = bidir(x, w, sem, mask, merge_mode=None)[0]
        for y in new.outputs:
            np.testing.assert_array_equal(y[0, [2, 4]], 0)
            assert np.all(y[0, [0, 1, 3]] != 0) and np.all(y[1] != 0)


def test_bidirectional_time_major_reverses_the_first_axis(case):
    x, w = case
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    tm = bidir(xt, w, TFK, merge_mode="concat", time_major=True)[0].outputs[0]
    bm = bidir(x, w, TFK, merge_mode="concat")[0].outputs[0]
    np.testing.assert_allclose(tm, bm.transpose(1, 0, 2), rtol=1e-6)


def test_unknown_merge_mode_is_unsupported(case):
    x, w = case
    with pytest.raises(UnsupportedLayer, match="merge_mode"):
        bidir(x, w, merge_mode="max")


# ------------------------------------------------------------------------------------------------- TimeDistributed

def td(x, inner_spec, inner_fn, sem=TFK, mask=None):
    """Run TimeDistributed(inner_spec) with `inner_fn(call) -> Out`; also return what the inner layer saw."""
    seen = []

    def inner(s, inputs, masks):
        seen.append((inputs[0].shape, masks[0]))
        return inner_fn(Call(s, inputs, [], sem, F32, masks=masks))

    spec = LayerSpec("td", "TimeDistributed", "TimeDistributed", {}, wrapped=[inner_spec])
    return WRAP["TimeDistributed"](Call(spec, [x], [], sem, F32, masks=[mask], run_inner=inner)), seen


def test_time_distributed_folds_time_into_batch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    k, b = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    dense = LayerSpec("d", "Dense", "Dense", dict(units=5, activation="relu", use_bias=True))
    out, seen = td(x, dense, lambda c: CORE["Dense"](Call(c.layer, c.inputs, [k, b], c.sem, F32, masks=c.masks)))
    np.testing.assert_allclose(out.outputs[0], np.maximum(x @ k + b, 0), rtol=1e-6)
    np.testing.assert_allclose(out.pre_activation, x @ k + b, rtol=1e-6)
    assert out.outputs[0].shape == (2, 3, 5) and seen == [((6, 4), None)]


def test_time_distributed_unfolds_every_inner_output():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    spec = LayerSpec("i", "Custom", "Custom", {})
    out, _ = td(x, spec, lambda c: Out([c.x * 2, c.x[:, :1]]))
    assert [o.shape for o in out.outputs] == [(2, 3, 4), (2, 3, 1)]
    np.testing.assert_array_equal(out.outputs[1], x[:, :, :1])
    assert out.masks == [None, None]


def test_time_distributed_two_axis_mask_passes_through_and_is_not_folded():
    x = np.ones((2, 3, 4), np.float32)
    mask = np.array([[1, 0, 1], [1, 1, 0]], bool)
    for sem in (K1, TFK, K3):
        out, seen = td(x, LayerSpec("i", "Custom", "Custom", {}), lambda c: Out([c.x]), sem, mask)
        assert seen[0][1] is None
        np.testing.assert_array_equal(out.masks[0], mask)


def test_time_distributed_folds_a_three_axis_mask_into_an_inner_rnn():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 5, 3)).astype(np.float32)
    w = [(rng.normal(size=s) * 0.5).astype(np.float32) for s in ((3, 8), (2, 8), (8,))]
    mask = rng.random((2, 3, 5)) > 0.3
    mask[1, 2] = False
    for seq in (True, False):
        spec = LayerSpec("l", "LSTM", "LSTM", dict(RNN_BASE, return_sequences=seq))

        def lstm(c):
            return RNN["LSTM"](Call(c.layer, c.inputs, w, c.sem, F32, masks=c.masks))

        out, seen = td(x, spec, lstm, TFK, mask)
        np.testing.assert_array_equal(seen[0][1], mask.reshape(6, 5))
        folded = lstm(Call(spec, [x.reshape(6, 5, 3)], [], TFK, F32, masks=[mask.reshape(6, 5)])).outputs[0]
        np.testing.assert_array_equal(out.outputs[0], folded.reshape((2, 3) + folded.shape[1:]))
        # tf.keras: the inner mask unfolded, or the input mask reduced over its extra axis; Keras 3 keeps it
        np.testing.assert_array_equal(out.masks[0], mask if seq else mask.any(-1))
        k3_out, _ = td(x, spec, lstm, K3, mask)
        assert k3_out.masks[0] is mask
    _, seen = td(x, spec, lstm, K1, mask)
    assert seen[0][1] is None  # Keras 1 never hands the inner layer a mask


def test_time_distributed_needs_a_time_axis():
    with pytest.raises(UnsupportedLayer, match="TimeDistributed"):
        td(np.ones((2, 3), np.float32), LayerSpec("i", "Custom", "Custom", {}), lambda c: Out([c.x]))
