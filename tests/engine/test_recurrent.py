"""Recurrent kernels on hand-checkable cases: the step equations, masking, go_backwards, return_state,
Bidirectional merge modes and TimeDistributed folding. (Agreement with real Keras: test_real_keras_cases.py.)"""

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.recurrent import KERNELS as RNN
from kstep.engine.wrappers import KERNELS as WRAP
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
TFK = Semantics("tf.keras", "2.21.0", "tensorflow")
BASE = dict(activation="tanh", use_bias=True, return_sequences=True, return_state=False, go_backwards=False,
            stateful=False, unroll=False, time_major=False)


def run(kind, params, x, weights, mask=None, sem=K1):
    spec = LayerSpec("r", kind, kind, dict(BASE, **params))
    return RNN[kind](Call(spec, [x], list(weights), sem, x.dtype, masks=[mask]))


def sig(v):
    return 1 / (1 + np.exp(-v))


def hsig(v):
    return np.clip(0.2 * v + 0.5, 0, 1)


@pytest.fixture
def lstm_case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    w = [rng.normal(size=s).astype(np.float32) * 0.5 for s in ((3, 8), (2, 8), (8,))]
    return x, w


def lstm_reference(x, w, rec=hsig):
    k, r, b = (a.astype(np.float64) for a in w)
    h = np.zeros((x.shape[0], 2))
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ r + b
        i, f, g, o = rec(z[:, :2]), rec(z[:, 2:4]), np.tanh(z[:, 4:6]), rec(z[:, 6:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def test_lstm_matches_step_equations(lstm_case):
    x, w = lstm_case
    out = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid", return_state=True), x, w)
    seq, h, c = lstm_reference(x, w)
    np.testing.assert_allclose(out.outputs[0], seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.outputs[1], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.outputs[2], c, rtol=1e-5, atol=1e-6)
    assert out.outputs[0].dtype == np.float32


def test_masked_steps_repeat_previous_output_and_keep_state(lstm_case):
    x, w = lstm_case
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    out = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid"), x, w, mask)
    seq = out.outputs[0]
    np.testing.assert_array_equal(seq[0, 2], seq[0, 1])
    np.testing.assert_array_equal(seq[0, 4], seq[0, 3])
    # the state after the masked step 2 is the state after step 1: step 3 equals the unmasked run without step 2
    x2 = np.delete(x[:1], 2, axis=1)
    ref, _, _ = lstm_reference(x2, w)
    np.testing.assert_allclose(seq[0, 3], ref[0, 2], rtol=1e-5, atol=1e-6)
    assert out.masks[0] is mask


def test_go_backwards_returns_the_reversed_walk(lstm_case):
    x, w = lstm_case
    back = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid", go_backwards=True), x, w).outputs[0]
    fwd_on_reversed = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid"), x[:, ::-1].copy(), w)
    np.testing.assert_allclose(back, fwd_on_reversed.outputs[0], rtol=1e-6)


def test_gru_reset_after_both_ways():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    k, r = rng.normal(size=(3, 6)).astype(np.float32), rng.normal(size=(2, 6)).astype(np.float32)
    b2 = rng.normal(size=(2, 6)).astype(np.float32)
    after = run("GRU", dict(units=2, recurrent_activation="sigmoid", reset_after=True, return_sequences=False),
                x, [k, r, b2], sem=TFK).outputs[0]
    h = np.zeros((2, 2))
    for t in range(4):
        xz = x[:, t] @ k + b2[0]
        hz = h @ r + b2[1]
        z, rr = sig(xz[:, :2] + hz[:, :2]), sig(xz[:, 2:4] + hz[:, 2:4])
        hh = np.tanh(xz[:, 4:] + rr * hz[:, 4:])
        h = z * h + (1 - z) * hh
    np.testing.assert_allclose(after, h, rtol=1e-5, atol=1e-6)
    before = run("GRU", dict(units=2, recurrent_activation="hard_sigmoid", reset_after=False,
                             return_sequences=False), x, [k, r, b2[0]]).outputs[0]
    h = np.zeros((2, 2))
    for t in range(4):
        xz = x[:, t] @ k + b2[0]
        z, rr = hsig(xz[:, :2] + h @ r[:, :2]), hsig(xz[:, 2:4] + h @ r[:, 2:4])
        hh = np.tanh(xz[:, 4:] + (rr * h) @ r[:, 4:])
        h = z * h + (1 - z) * hh
    np.testing.assert_allclose(before, h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_merge_modes(mode, lstm_case):
    x, w = lstm_case
    params = dict(BASE, units=2, recurrent_activation="hard_sigmoid")
    fwd = LayerSpec("f", "LSTM", "LSTM", params, weights=[])
    bwd = LayerSpec("b", "LSTM", "LSTM", dict(params, go_backwards=True))
    spec = LayerSpec("bi", "Bidirectional", "Bidirectional", {"merge_mode": mode}, wrapped=[fwd, bwd])

    def inner(s, inputs, masks):
        return RNN["LSTM"](Call(s, inputs, w, K1, np.dtype("float32"), masks=masks))

    out = WRAP["Bidirectional"](Call(spec, [x], [], K1, np.dtype("float32"), masks=[None], run_inner=inner))
    a = inner(fwd, [x], [None]).outputs[0]
    b = inner(bwd, [x], [None]).outputs[0][:, ::-1]
    expected = {"concat": [np.concatenate([a, b], -1)], "sum": [a + b], "ave": [(a + b) / 2], "mul": [a * b],
                None: [a, b]}[mode]
    assert len(out.outputs) == len(expected)
    for got, want in zip(out.outputs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_time_distributed_folds_time_into_batch():
    from kstep.engine.core import KERNELS as CORE

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    k, b = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    dense = LayerSpec("d", "Dense", "Dense", dict(units=5, activation="relu", use_bias=True))
    spec = LayerSpec("td", "TimeDistributed", "TimeDistributed", {}, wrapped=[dense])

    def inner(s, inputs, masks):
        return CORE["Dense"](Call(s, inputs, [k, b], TFK, np.dtype("float32"), masks=masks))

    out = WRAP["TimeDistributed"](Call(spec, [x], [], TFK, np.dtype("float32"), masks=[None], run_inner=inner))
    np.testing.assert_allclose(out.outputs[0], np.maximum(x @ k + b, 0), rtol=1e-6)
    assert out.outputs[0].shape == (2, 3, 5)
