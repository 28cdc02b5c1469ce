"""Provides the kernels for SimpleRNN, LSTM, GRU (reset_after both ways), CuDNNLSTM/CuDNNGRU and ConvLSTM1D/2D/3D.

Input x: (batch, time, features) (ConvLSTM: (batch, time, *image)); weights in tf.keras 2 layout: kernel
(in, n*u), recurrent_kernel (u, n*u), bias (n*u,) or, for GRU reset_after, (2, 3u). Gates: LSTM i,f,c,o; GRU
z,r,h. The input projection of every step is one matrix product; only the recurrence loops over time.
Semantics (keras-formats.md §4.4): a masked step repeats the previous output (zeros when the config says
zero_output_for_mask) and keeps the states; go_backwards walks time in reverse and returns the sequence in that
reversed order; the output mask is the input mask when return_sequences, else none; time_major (tf.keras 2) takes
and returns (time, batch, ...) and a (time, batch) mask; stateful layers start from zeros (one reference input has
no history). Outputs: [sequence or last output] + ([h] or [h, c] when return_state).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kstep.engine.activations import apply
from kstep.engine.base import Call, Kernel, Out
from kstep.engine.conv import conv


def _act(call: Call, key: str):
    """The layer's activation `params[key]` as a function of one array."""
    name = call.params.get(key) or "linear"
    params = {**call.params, "name": call.layer.name}
    return lambda v: apply(name, v, call.sem, params)


def _fixed(call: Call):
    """CuDNN layers' fixed sigmoid and tanh (their config has no activations)."""
    dt = call.x.dtype
    return (lambda v: apply("sigmoid", v, call.sem)), (lambda v: np.tanh(v).astype(dt, copy=False))


def _bias(call: Call) -> np.ndarray | None:
    """The third weight when the layer has a bias."""
    return call.weights[2] if call.params.get("use_bias", True) and len(call.weights) > 2 else None


def _prepare(call: Call) -> tuple[np.ndarray, np.ndarray | None]:
    """x (batch, time, ...) and mask (batch, time) in the order the recurrence walks them (reversed for
    go_backwards)."""
    x, mask = call.x, call.mask
    if call.params.get("time_major"):
        x = np.swapaxes(x, 0, 1)
        mask = None if mask is None else np.swapaxes(mask, 0, 1)
    if x.ndim < 3:
        raise call.unsupported(f"a recurrent layer needs (batch, time, ...) input, got shape {call.x.shape}")
    if mask is not None and np.ndim(mask) == 3:
        # Keras 3 (its TimeDistributed passes a (batch, time, steps) mask on unchanged): a step counts when any
        # of its entries does (keras/src/backend/numpy/rnn.py: masked = all(not mask_t, axis=-1))
        mask = np.any(mask, axis=-1)
    if mask is not None and np.ndim(mask) != 2:
        shape = np.asarray(call.mask).shape
        raise call.unsupported(f"a mask of shape {shape} (kstep masks recurrent layers per time step)")
    if call.params.get("go_backwards"):
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    return x, mask


def _finish(call: Call, outputs: list[np.ndarray], states: list[np.ndarray]) -> Out:
    """Stack the per-step outputs (or keep the last), append states for return_state, set the output mask."""
    seq = call.params.get("return_sequences")
    time_axis = 0 if call.params.get("time_major") else 1
    main = np.stack(outputs, axis=time_axis) if seq else outputs[-1]
    outs = [main] + (list(states) if call.params.get("return_state") else [])
    out_mask = call.mask if seq else None
    return Out(outs, masks=[out_mask] + [None] * (len(outs) - 1))


def _run(call: Call, xw: np.ndarray, mask: np.ndarray | None, step, states: list[np.ndarray]) -> tuple[
        list[np.ndarray], list[np.ndarray]]:
    """Loop `step(xw_t, states) -> (output, new_states)` over time with Keras's masking rule.

    xw: (batch, time, ...) input projections; mask: (batch, time) or None. Returns (per-step outputs, states).
    """
    if xw.shape[1] == 0:
        raise call.unsupported("an input with zero time steps")
    zero_masked = bool(call.params.get("zero_output_for_mask"))
    outputs: list[np.ndarray] = []
    prev = None
    for t in range(xw.shape[1]):
        out, new = step(xw[:, t], states)
        if mask is not None:
            m = np.asarray(mask[:, t], bool).reshape((-1,) + (1,) * (out.ndim - 1))
            fill = np.zeros_like(out) if zero_masked or prev is None else prev
            out = np.where(m, out, fill)
            new = [np.where(m, n, s) for n, s in zip(new, states)]
        states, prev = new, out
        outputs.append(out)
    return outputs, states


def _zeros(x: np.ndarray, units: int) -> np.ndarray:
    return np.zeros((x.shape[0], units), dtype=x.dtype)


def _project(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """All steps' input projections in one product: (batch, time, in) @ (in, n*u) [+ bias]."""
    xw = x @ kernel
    return xw if bias is None else xw + bias


# ------------------------------------------------------------------------------------------------------ SimpleRNN

def simple_rnn(call: Call) -> Out:
    """h_t = act(x_t W + b + h_{t-1} U)."""
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    xw = _project(x, kernel, _bias(call))
    act = _act(call, "activation")

    def step(xt, states):
        h = act(xt + states[0] @ rec)
        return h, [h]

    outputs, states = _run(call, xw, mask, step, [_zeros(x, rec.shape[0])])
    return _finish(call, outputs, states)


# ----------------------------------------------------------------------------------------------------------- LSTM

def _lstm(call: Call, bias: np.ndarray | None, rec_act, act) -> Out:
    """The LSTM recurrence; kernel (in, 4u), recurrent_kernel (u, 4u), gates i, f, c, o."""
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    u = rec.shape[0]
    xw = _project(x, kernel, bias)

    def step(xt, states):
        h, c = states
        z = xt + h @ rec
        i, f, o = rec_act(z[:, :u]), rec_act(z[:, u:2 * u]), rec_act(z[:, 3 * u:])
        c = f * c + i * act(z[:, 2 * u:3 * u])
        h = o * act(c)
        return h, [h, c]

    outputs, states = _run(call, xw, mask, step, [_zeros(x, u), _zeros(x, u)])
    return _finish(call, outputs, states)


def lstm(call: Call) -> Out:
    """i,f,o = rec_act(.), c~ = act(.); c = f c + i c~; h = o act(c)."""
    return _lstm(call, _bias(call), _act(call, "recurrent_activation"), _act(call, "activation"))


def cudnn_as_plain(kind: str, weights: list[np.ndarray]) -> list[np.ndarray] | None:
    """A CuDNNLSTM / CuDNNGRU layer's [kernel, recurrent_kernel, bias] in the form of the LSTM / GRU(reset_after=
    True) that computes the same (None when the bias has another shape): per gate block, input kernel
    k.T.reshape(k.shape, order='F') and recurrent kernel k.T; LSTM bias (8u,) -> input half + recurrent half (4u,);
    GRU bias (6u,) -> (2, 3u).

    Why: a CuDNN layer hands each stored gate block, flattened row-major, to cuDNN, which reads it as its own
    row-major (units, in) matrix; x @ k is therefore NOT what runs (unless the block is 1 x 1). This is Keras's
    own conversion when it loads CuDNN weights into LSTM / GRU(reset_after=True) (tf_keras
    saving/legacy/hdf5_format.py and Keras 2.2.4 saving.py `_convert_rnn_weights`; layers
    cudnn_recurrent.py `_process_batch` / `canonical_to_params`; ../shared/docs/keras-formats.md §3.2 item 4).
    Checked against tests/fixtures/modern/tfk/cudnn_lstm_gru (real tf-keras CuDNN file)."""
    n = 4 if kind == "CuDNNLSTM" else 3
    kernel, rec, bias = weights[0], weights[1], weights[2]
    u = rec.shape[0]
    ks = [k.T.reshape(k.shape, order="F") for k in np.split(kernel, n, axis=-1)]
    rs = [r.T for r in np.split(rec, n, axis=-1)]
    if n == 4:
        if bias.shape != (8 * u,):
            return None
        bias = bias[:4 * u] + bias[4 * u:]
    elif bias.size != 6 * u:
        return None
    else:
        bias = bias.reshape(2, 3 * u)
    return [np.concatenate(ks, axis=-1), np.concatenate(rs, axis=-1), bias]


def _cudnn(call: Call) -> tuple[Call, np.ndarray]:
    """The call with the CuDNN layer's weights in plain form (`cudnn_as_plain`), and that bias."""
    plain = cudnn_as_plain(call.layer.kind, call.weights)
    if plain is None:
        raise call.unsupported(f"{call.layer.kind} bias of shape {call.weights[2].shape} (units "
                               f"{call.weights[1].shape[0]})")
    return dataclasses.replace(call, weights=plain + list(call.weights[3:])), plain[2]


def cudnn_lstm(call: Call) -> Out:
    """CuDNNLSTM: an LSTM with sigmoid/tanh and the weights of `cudnn_as_plain`."""
    sig, tanh = _fixed(call)
    plain, bias = _cudnn(call)
    return _lstm(plain, bias, sig, tanh)


# ------------------------------------------------------------------------------------------------------------ GRU

def _gru(call: Call, reset_after: bool, bias: np.ndarray | None, rec_act, act) -> Out:
    """The GRU recurrence; kernel (in, 3u), recurrent_kernel (u, 3u), gates z, r, h.

    reset_after=False: bias (3u,), h~ = act(x W_h + b_h + (r h) U_h).
    reset_after=True: bias (2, 3u) (input row, recurrent row), h~ = act(x W_h + b0_h + r (h U_h + b1_h)).
    """
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    u = rec.shape[0]
    rec_bias = None
    if bias is not None:
        want = (2, 3 * u) if reset_after else (3 * u,)
        if bias.shape != want:
            raise call.unsupported(f"reset_after={reset_after} needs a bias of shape {want}, the file has "
                                   f"{bias.shape}")
        if reset_after:
            bias, rec_bias = bias[0], bias[1]
    xw = _project(x, kernel, bias)
    rec_zr, rec_h = rec[:, :2 * u], rec[:, 2 * u:]

    def step(xt, states):
        h = states[0]
        if reset_after:
            hr = h @ rec if rec_bias is None else h @ rec + rec_bias
            zr = rec_act(xt[:, :2 * u] + hr[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            hh = act(xt[:, 2 * u:] + r * hr[:, 2 * u:])
        else:
            zr = rec_act(xt[:, :2 * u] + h @ rec_zr)
            z, r = zr[:, :u], zr[:, u:]
            hh = act(xt[:, 2 * u:] + (r * h) @ rec_h)
        h = z * h + (1 - z) * hh
        return h, [h]

    outputs, states = _run(call, xw, mask, step, [_zeros(x, u)])
    return _finish(call, outputs, states)


def gru(call: Call) -> Out:
    """z, r = rec_act(.); h~ = act(x W_h + (r h) U_h) or, reset_after, act(x W_h + r (h U_h + b_h'));
    h = z h + (1-z) h~."""
    return _gru(call, bool(call.params.get("reset_after")), _bias(call), _act(call, "recurrent_activation"),
                _act(call, "activation"))


def cudnn_gru(call: Call) -> Out:
    """CuDNNGRU: a GRU with reset_after, sigmoid/tanh and the weights of `cudnn_as_plain` (bias read as (2, 3u)):
    h~ = tanh(x W_h + b_xh + r (h U_h + b_hh))."""
    sig, tanh = _fixed(call)
    plain, bias = _cudnn(call)
    return _gru(plain, True, bias, sig, tanh)


# ------------------------------------------------------------------------------------------------------- ConvLSTM

def _tuple(v, n: int) -> tuple[int, ...]:
    """An int or a sequence as an n-tuple of ints."""
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def _flip_spatial(k: np.ndarray, nd: int) -> np.ndarray:
    return k[(slice(None, None, -1),) * nd]


def conv_lstm(call: Call) -> Out:
    """ConvLSTM1D/2D/3D: the LSTM recurrence with convolutions.

    x (batch, time, *image) in the layer's data_format; kernel (*k, in, 4u), recurrent_kernel (*k, u, 4u), bias
    (4u,). The input convolution uses the layer's strides, padding and dilation; the recurrent one stride 1 and
    'same' padding. Computed channels-last; outputs returned in the layer's data_format.
    """
    p = call.params
    nd = call.rank
    conv_kind = f"Conv{nd}D"
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    bias = _bias(call)
    u = rec.shape[-1] // 4
    cf = p.get("data_format") == "channels_first"
    if cf:
        x = np.moveaxis(x, 2, -1)
    if call.sem.flips_kernel(call.layer.kind) != call.sem.flips_kernel(conv_kind):
        # conv() flips (or not) by the Conv kind; make the net effect the one this kind has
        kernel, rec = _flip_spatial(kernel, nd), _flip_spatial(rec, nd)
    conv_params = dict(filters=4 * u, kernel_size=_tuple(p["kernel_size"], nd),
                       strides=_tuple(p.get("strides", 1), nd), padding=str(p.get("padding", "valid")).lower(),
                       data_format="channels_last",
                       dilation_rate=_tuple(p.get("dilation_rate", 1), nd), groups=1, activation="linear",
                       use_bias=False)
    in_spec = dataclasses.replace(call.layer, kind=conv_kind, params=conv_params, wrapped=[])
    rec_spec = dataclasses.replace(in_spec, params=dict(conv_params, strides=(1,) * nd, padding="same",
                                                        dilation_rate=(1,) * nd))

    def run_conv(spec, value, w):
        return conv(Call(layer=spec, inputs=[value], weights=[w], sem=call.sem, dtype=call.dtype)).outputs[0]

    b, t = x.shape[:2]
    xw = run_conv(in_spec, x.reshape((b * t,) + x.shape[2:]), kernel)
    xw = xw.reshape((b, t) + xw.shape[1:])
    if bias is not None:
        xw = xw + bias
    rec_act, act = _act(call, "recurrent_activation"), _act(call, "activation")

    def step(xt, states):
        h, c = states
        z = xt + run_conv(rec_spec, h, rec)
        i, f, o = rec_act(z[..., :u]), rec_act(z[..., u:2 * u]), rec_act(z[..., 3 * u:])
        c = f * c + i * act(z[..., 2 * u:3 * u])
        h = o * act(c)
        return h, [h, c]

    zeros = np.zeros(xw.shape[:1] + xw.shape[2:-1] + (u,), dtype=x.dtype)
    outputs, states = _run(call, xw, mask, step, [zeros, zeros.copy()])
    if cf:
        outputs = [np.moveaxis(o, -1, 1) for o in outputs]
        states = [np.moveaxis(s, -1, 1) for s in states]
    return _finish(call, outputs, states)


KERNELS: dict[str, Kernel] = {
    "SimpleRNN": simple_rnn,
    "LSTM": lstm,
    "GRU": gru,
    "CuDNNLSTM": cudnn_lstm,
    "CuDNNGRU": cudnn_gru,
    "ConvLSTM1D": conv_lstm,
    "ConvLSTM2D": conv_lstm,
    "ConvLSTM3D": conv_lstm,
}
