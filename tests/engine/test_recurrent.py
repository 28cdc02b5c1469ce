"""Recurrent kernels on hand-checkable cases: the step equations against plain per-step references, masking,
go_backwards, return_state, time_major, zero_output_for_mask, the CuDNN variants and ConvLSTM.
(Agreement with real Keras: test_real_keras_cases.py; wrappers: test_wrappers.py.)"""

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.recurrent import KERNELS as RNN
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
K2TH = Semantics("keras2", "2.2.4", "theano")
TFK = Semantics("tf.keras", "2.21.0", "tensorflow")
K3 = Semantics("keras3", "3.15.1", "numpy")
BASE = dict(activation="tanh", use_bias=True, return_sequences=True, return_state=False, go_backwards=False,
            stateful=False, unroll=False, time_major=False)


def run(kind, params, x, weights, mask=None, sem=K1):
    spec = LayerSpec("r", kind, kind, dict(BASE, **params))
    return RNN[kind](Call(spec, [x], list(weights), sem, x.dtype, masks=[mask]))


def sig(v):
    return 1 / (1 + np.exp(-v))


def hsig(v):
    return np.clip(0.2 * v + 0.5, 0, 1)


def weights(rng, shapes, scale=0.5):
    return [(rng.normal(size=s) * scale).astype(np.float32) for s in shapes]


@pytest.fixture
def lstm_case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    return x, weights(rng, ((3, 8), (2, 8), (8,)))


# ------------------------------------------------------------------------------------------ per-step references

def lstm_reference(x, w, rec=hsig, act=np.tanh):
    """Plain float64 LSTM, gates i, f, c, o: (sequence, h, c)."""
    k, r, b = (a.astype(np.float64) for a in w)
    u = r.shape[0]
    h = np.zeros((x.shape[0], u))
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ r + b
        i, f, g, o = rec(z[:, :u]), rec(z[:, u:2 * u]), act(z[:, 2 * u:3 * u]), rec(z[:, 3 * u:])
        c = f * c + i * g
        h = o * act(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def gru_reference(x, k, r, b, reset_after, rec=sig):
    """Plain float64 GRU, gates z, r, h; b is (3u,) or (2, 3u)."""
    u = r.shape[0]
    h = np.zeros((x.shape[0], u))
    bx, bh = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))
    outs = []
    for t in range(x.shape[1]):
        xz = x[:, t] @ k + bx
        if reset_after:
            hz = h @ r + bh
            z, rr = rec(xz[:, :u] + hz[:, :u]), rec(xz[:, u:2 * u] + hz[:, u:2 * u])
            hh = np.tanh(xz[:, 2 * u:] + rr * hz[:, 2 * u:])
        else:
            z, rr = rec(xz[:, :u] + h @ r[:, :u]), rec(xz[:, u:2 * u] + h @ r[:, u:2 * u])
            hh = np.tanh(xz[:, 2 * u:] + (rr * h) @ r[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1)


def close(got, want, tol=1e-5):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 0.1)


# ----------------------------------------------------------------------------------------------------- equations

def test_lstm_matches_step_equations(lstm_case):
    x, w = lstm_case
    out = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid", return_state=True), x, w)
    seq, h, c = lstm_reference(x, w)
    close(out.outputs[0], seq)
    close(out.outputs[1], h)
    close(out.outputs[2], c)
    assert [o.dtype for o in out.outputs] == [np.float32] * 3
    assert out.masks == [None, None, None]


def test_lstm_without_bias_and_last_output(lstm_case):
    x, w = lstm_case
    out = run("LSTM", dict(units=2, recurrent_activation="sigmoid", use_bias=False, return_sequences=False),
              x, w[:2], sem=TFK)
    seq, _, _ = lstm_reference(x, [w[0], w[1], np.zeros(8, np.float32)], rec=sig)
    assert out.outputs[0].shape == (2, 2)
    close(out.outputs[0], seq[:, -1])


def test_simple_rnn_and_its_state():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    k, r, b = weights(rng, ((3, 2), (2, 2), (2,)))
    out = run("SimpleRNN", dict(units=2, activation="relu", return_state=True), x, [k, r, b])
    h = np.zeros((2, 2))
    seq = []
    for t in range(4):
        h = np.maximum(x[:, t] @ k + b + h @ r, 0)
        seq.append(h)
    close(out.outputs[0], np.stack(seq, 1))
    close(out.outputs[1], h)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_both_reset_rules(reset_after):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    k, r, b2 = weights(rng, ((3, 6), (2, 6), (2, 6)), 1.0)
    b = b2 if reset_after else b2[0]
    rec = "sigmoid" if reset_after else "hard_sigmoid"
    out = run("GRU", dict(units=2, recurrent_activation=rec, reset_after=reset_after, return_state=True),
              x, [k, r, b], sem=TFK)
    want = gru_reference(x, k, r, b, reset_after, sig if reset_after else hsig)
    close(out.outputs[0], want)
    close(out.outputs[1], want[:, -1])


def test_gru_bias_that_does_not_fit_reset_after_is_unsupported():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    k, r, b = weights(rng, ((3, 6), (2, 6), (6,)))
    with pytest.raises(UnsupportedLayer, match="reset_after=True"):
        run("GRU", dict(units=2, recurrent_activation="sigmoid", reset_after=True), x, [k, r, b], sem=TFK)


def test_keras3_hard_sigmoid_is_its_own(lstm_case):
    x, w = lstm_case
    out = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid"), x, w, sem=K3).outputs[0]
    seq, _, _ = lstm_reference(x, w, rec=lambda v: np.clip(v / 6 + 0.5, 0, 1))
    close(out, seq)


# ---------------------------------------------------------------------------------------------------------- CuDNN

def cudnn_as_plain(kernel, n_gates):
    """What cuDNN runs, as a plain Keras kernel: each stored gate block (rows, u) is flattened row-major and read
    by cuDNN as its row-major (u, rows) matrix W, which computes W @ x, i.e. x @ W.T."""
    rows = kernel.shape[0]
    return np.concatenate([blk.reshape(-1).reshape(-1, rows).T for blk in np.split(kernel, n_gates, axis=-1)],
                          axis=-1)


def test_cudnn_lstm_is_lstm_of_cudnns_reading_with_summed_bias_and_sigmoid(lstm_case):
    x, w = lstm_case
    rng = np.random.default_rng(4)
    b8 = rng.normal(size=16).astype(np.float32)
    out = run("CuDNNLSTM", dict(units=2), x, [w[0], w[1], b8], sem=K2TH).outputs[0]
    seq, _, _ = lstm_reference(x, [cudnn_as_plain(w[0], 4), cudnn_as_plain(w[1], 4), b8[:8] + b8[8:]], rec=sig)
    close(out, seq)
    plain, _, _ = lstm_reference(x, [w[0], w[1], b8[:8] + b8[8:]], rec=sig)
    assert np.abs(out - plain).max() > 1e-3  # the stored kernels are not used as x @ k


def test_cudnn_gru_candidate_applies_reset_to_the_recurrent_product_and_bias():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    k, r, b6 = weights(rng, ((3, 6), (2, 6), (12,)), 1.0)
    out = run("CuDNNGRU", dict(units=2, return_sequences=False), x, [k, r, b6], sem=K2TH).outputs[0]
    close(out, gru_reference(x, cudnn_as_plain(k, 3), cudnn_as_plain(r, 3), b6.reshape(2, 6), True)[:, -1])


# ---------------------------------------------------------------------------------------------- masks and options

def test_masked_steps_repeat_previous_output_and_keep_state(lstm_case):
    x, w = lstm_case
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], bool)
    out = run("LSTM", dict(units=2, recurrent_activation="hard_sigmoid"), x, w, mask)
    seq = out.outputs[0]
    np.testing.assert_array_equal(seq[0, 2], seq[0, 1])
    np.testing.assert_array_equal(seq[0, 4], seq[0, 3])
    np.testing.assert_array_equal(seq[1, 0], 0)  # masked before any valid step: zeros
    # the state after the masked step 2 is the state after step 1: step 3 equals the unmasked run without step 2
    ref, _, _ = lstm_reference(np.delete(x[:1], 2, axis=1), w)
    close(seq[0, 3], ref[0, 2])
    assert out.masks[0] is mask


def test_zero_output_for_mask_zeroes_masked_steps_but_keeps_states(lstm_case):
    x, w = lstm_case
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    p = dict(units=2, recurrent_activation="hard_sigmoid", return_state=True)
    plain = run("LSTM", p, x, w, mask, sem=K3).outputs
    zero = run("LSTM", dict(p, zero_output_for_mask=True), x, w, mask, sem=K3).outputs
    np.testing.assert_array_equal(zero[0][0, [2, 4]], 0)
    np.testing.assert_array_equal(zero[0][0, [0, 1, 3]], plain[0][0, [0, 1, 3]])
    np.testing.assert_array_equal(zero[0][1], plain[0][1])
    np.testing.assert_array_equal(zero[1], plain[1])  # states are kept either way
    last = run("LSTM", dict(p, zero_output_for_mask=True, return_sequences=False), x, w, mask, sem=K3).outputs
    np.testing.assert_array_equal(last[0][0], 0)  # the last output is the last step's, zero when masked


def test_three_axis_mask_counts_a_step_when_any_entry_does(lstm_case):
    x, w = lstm_case
    m3 = np.zeros((2, 5, 3), bool)
    m3[0, [0, 1, 3], 1] = True
    m3[1, :, 2] = True
    p = dict(units=2, recurrent_activation="sigmoid")
    got = run("LSTM", p, x, w, m3, sem=K3)
    want = run("LSTM", p, x, w, m3.any(-1), sem=K3)
    np.testing.assert_array_equal(got.outputs[0], want.outputs[0])
    assert got.masks[0] is m3


def test_go_backwards_returns_the_reversed_walk(lstm_case):
    x, w = lstm_case
    p = dict(units=2, recurrent_activation="hard_sigmoid")
    mask = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    back = run("LSTM", dict(p, go_backwards=True), x, w, mask)
    fwd_on_reversed = run("LSTM", p, x[:, ::-1].copy(), w, mask[:, ::-1].copy())
    np.testing.assert_allclose(back.outputs[0], fwd_on_reversed.outputs[0], rtol=1e-6)
    assert back.masks[0] is mask  # the output mask is the input mask, not reversed


def test_time_major_takes_and_returns_time_first(lstm_case):
    x, w = lstm_case
    p = dict(units=2, recurrent_activation="sigmoid", return_state=True)
    mask = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    xt, mt = np.ascontiguousarray(x.transpose(1, 0, 2)), np.ascontiguousarray(mask.T)
    tm = run("LSTM", dict(p, time_major=True), xt, w, mt, sem=TFK)
    bm = run("LSTM", p, x, w, mask, sem=TFK)
    np.testing.assert_array_equal(tm.outputs[0], bm.outputs[0].transpose(1, 0, 2))
    np.testing.assert_array_equal(tm.outputs[1], bm.outputs[1])  # states stay (batch, units)
    assert tm.masks[0] is mt


def test_zero_time_steps_is_unsupported(lstm_case):
    _, w = lstm_case
    with pytest.raises(UnsupportedLayer, match="zero time steps"):
        run("LSTM", dict(units=2, recurrent_activation="sigmoid"), np.zeros((2, 0, 3), np.float32), w)


# ------------------------------------------------------------------------------------------------------ ConvLSTM

def conv_params(**kw):
    return dict(dict(filters=2, kernel_size=(1, 1), strides=(1, 1), padding="same",
                     data_format="channels_last", dilation_rate=(1, 1), recurrent_activation="hard_sigmoid"), **kw)


def test_convlstm_with_1x1_kernels_is_an_lstm_at_every_pixel(lstm_case):
    _, w = lstm_case
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 4, 3, 2, 3)).astype(np.float32)  # (batch, time, rows, cols, channels)
    k, r, b = w[0][None, None], w[1][None, None], w[2]
    out = run("ConvLSTM2D", conv_params(return_state=True), x, [k, r, b], sem=TFK)
    flat = x.transpose(0, 2, 3, 1, 4).reshape(12, 4, 3)  # every pixel's own sequence
    seq, h, c = lstm_reference(flat, w)
    close(out.outputs[0], seq.reshape(2, 3, 2, 4, 2).transpose(0, 3, 1, 2, 4))
    close(out.outputs[2], c.reshape(2, 3, 2, 2))


def test_convlstm_channels_first_is_channels_last_transposed():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 5, 4, 2)).astype(np.float32)
    ws = weights(rng, ((3, 3, 2, 12), (3, 3, 3, 12), (12,)))
    p = conv_params(filters=3, kernel_size=(3, 3), return_state=True)
    last = run("ConvLSTM2D", p, x, ws, sem=K3).outputs
    first = run("ConvLSTM2D", dict(p, data_format="channels_first"), np.moveaxis(x, -1, 2).copy(), ws,
                sem=K3).outputs
    close(first[0], np.moveaxis(last[0], -1, 2))
    close(first[1], np.moveaxis(last[1], -1, 1))


def test_convlstm_on_theano_convolves_with_flipped_kernels():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 5, 4, 2)).astype(np.float32)
    k, r, b = weights(rng, ((3, 3, 2, 8), (3, 3, 2, 8), (8,)))
    p = conv_params(kernel_size=(3, 3), return_sequences=False)
    th = run("ConvLSTM2D", p, x, [k, r, b], sem=K2TH).outputs[0]
    tf = run("ConvLSTM2D", p, x, [k[::-1, ::-1].copy(), r[::-1, ::-1].copy(), b], sem=TFK).outputs[0]
    close(th, tf)


def test_convlstm1d_is_convlstm2d_on_a_single_row():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 6, 2)).astype(np.float32)
    k, r, b = weights(rng, ((3, 2, 8), (3, 2, 8), (8,)))
    mask = np.array([[1, 0, 1], [1, 1, 1]], bool)
    one = run("ConvLSTM1D", dict(conv_params(kernel_size=(3,), strides=(1,), dilation_rate=(1,))), x,
              [k, r, b], mask, sem=TFK).outputs[0]
    two = run("ConvLSTM2D", conv_params(kernel_size=(1, 3)), x[:, :, None], [k[None], r[None], b], mask,
              sem=TFK).outputs[0]
    close(one, two[:, :, 0])
    np.testing.assert_array_equal(one[0, 1], one[0, 0])  # the masked step repeats the previous output
