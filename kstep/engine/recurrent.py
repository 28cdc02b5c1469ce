"""Provides the kernels for SimpleRNN, LSTM, GRU (reset_after both ways), CuDNNLSTM/CuDNNGRU and ConvLSTM2D.

Input x: (batch, time, features) (ConvLSTM2D: (batch, time, *image)); weights in tf.keras 2 layout: kernel
(in, n*u), recurrent_kernel (u, n*u), bias (n*u,) or, for GRU reset_after, (2, 3u). Gates: LSTM i,f,c,o; GRU
z,r,h. The input projection of every step is one matrix product; only the recurrence loops over time.
Semantics (keras-formats.md §4.4): a masked step repeats the previous output and keeps the states; go_backwards
walks time in reverse and returns the sequence in that reversed order; the output mask is the input mask when
return_sequences, else none; stateful layers start from zeros (one reference input has no history).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kstep.engine.activations import apply
from kstep.engine.base import Call, Out


def _act(call: Call, key: str):
    name = call.params.get(key) or "linear"
    params = {**call.params, "name": call.layer.name}
    return lambda v: apply(name, v, call.sem, params)


def _prepare(call: Call) -> tuple[np.ndarray, np.ndarray | None]:
    """x and mask in the order the recurrence walks them (reversed for go_backwards)."""
    x, mask = call.x, call.mask
    if call.params.get("time_major"):
        raise call.unsupported("time_major=True")
    if call.params.get("go_backwards"):
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    return x, mask


def _finish(call: Call, outputs: list[np.ndarray], last: np.ndarray, states: list[np.ndarray]) -> Out:
    """Stack the per-step outputs (or keep the last), append states for return_state, set the output mask."""
    seq = call.params.get("return_sequences")
    main = np.stack(outputs, axis=1) if seq else last
    outs = [main] + (list(states) if call.params.get("return_state") else [])
    out_mask = call.mask if seq else None
    return Out(outs, masks=[out_mask] + [None] * (len(outs) - 1))


def _run(call: Call, xw: np.ndarray, mask: np.ndarray | None, step, states: list[np.ndarray]) -> Out:
    """Loop `step(xw_t, states) -> (output, new_states)` over time with Keras's masking rule."""
    outputs = []
    prev = np.zeros_like(states[0])
    for t in range(xw.shape[1]):
        out, new = step(xw[:, t], states)
        if mask is not None:
            m = mask[:, t][:, None].astype(bool)
            out = np.where(m, out, prev)
            new = [np.where(m, n, s) for n, s in zip(new, states)]
        states, prev = new, out
        outputs.append(out)
    if not outputs:
        raise call.unsupported("an input with zero time steps")
    return _finish(call, outputs, prev, states)


def _zeros(x: np.ndarray, units: int) -> np.ndarray:
    return np.zeros((x.shape[0], units), dtype=x.dtype)


def simple_rnn(call: Call) -> Out:
    """h_t = act(x_t W + b + h_{t-1} U)."""
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    xw = x @ kernel
    if call.params.get("use_bias", True) and len(call.weights) > 2:
        xw = xw + call.weights[2]
    act = _act(call, "activation")

    def step(xt, states):
        h = act(xt + states[0] @ rec)
        return h, [h]

    return _run(call, xw, mask, step, [_zeros(x, rec.shape[0])])


def _lstm(call: Call, bias: np.ndarray | None, rec_act, act) -> Out:
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    u = rec.shape[0]
    xw = x @ kernel
    if bias is not None:
        xw = xw + bias

    def step(xt, states):
        h, c = states
        z = xt + h @ rec
        i = rec_act(z[:, :u])
        f = rec_act(z[:, u:2 * u])
        cc = act(z[:, 2 * u:3 * u])
        o = rec_act(z[:, 3 * u:])
        c = f * c + i * cc
        h = o * act(c)
        return h, [h, c]

    return _run(call, xw, mask, step, [_zeros(x, u), _zeros(x, u)])


def lstm(call: Call) -> Out:
    """i,f,o = rec_act(.), c~ = act(.); c = f c + i c~; h = o act(c)."""
    bias = call.weights[2] if call.params.get("use_bias", True) and len(call.weights) > 2 else None
    return _lstm(call, bias, _act(call, "recurrent_activation"), _act(call, "activation"))


def cudnn_lstm(call: Call) -> Out:
    """CuDNNLSTM: sigmoid/tanh; its (8u,) bias is the input half plus the recurrent half."""
    b = call.weights[2]
    u = call.weights[1].shape[0]
    dt = call.x.dtype
    sig = lambda v: apply("sigmoid", v, call.sem)  # noqa: E731
    tanh = lambda v: np.tanh(v).astype(dt, copy=False)  # noqa: E731
    return _lstm(call, b[:4 * u] + b[4 * u:], sig, tanh)


def _gru(call: Call, reset_after: bool, bias: np.ndarray | None, rec_act, act) -> Out:
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    u = rec.shape[0]
    xw = x @ kernel
    rec_bias = None
    if bias is not None:
        if bias.ndim == 2:
            xw = xw + bias[0]
            rec_bias = bias[1]
        else:
            xw = xw + bias
    if reset_after and bias is not None and bias.ndim != 2:
        raise call.unsupported(f"reset_after=True needs a (2, {3 * u}) bias, the file has {bias.shape}")

    def step(xt, states):
        h = states[0]
        if reset_after:
            hr = h @ rec
            if rec_bias is not None:
                hr = hr + rec_bias
            z = rec_act(xt[:, :u] + hr[:, :u])
            r = rec_act(xt[:, u:2 * u] + hr[:, u:2 * u])
            hh = act(xt[:, 2 * u:] + r * hr[:, 2 * u:])
        else:
            z = rec_act(xt[:, :u] + h @ rec[:, :u])
            r = rec_act(xt[:, u:2 * u] + h @ rec[:, u:2 * u])
            hh = act(xt[:, 2 * u:] + (r * h) @ rec[:, 2 * u:])
        h = z * h + (1 - z) * hh
        return h, [h]

    return _run(call, xw, mask, step, [_zeros(x, u)])


def gru(call: Call) -> Out:
    """z, r = rec_act(.); h~ = act(x W_h + (r h) U_h) or, reset_after, act(x W_h + r (h U_h + b_h')); h = z h + (1-z) h~."""
    bias = call.weights[2] if call.params.get("use_bias", True) and len(call.weights) > 2 else None
    return _gru(call, bool(call.params.get("reset_after")), bias, _act(call, "recurrent_activation"),
                _act(call, "activation"))


def cudnn_gru(call: Call) -> Out:
    """CuDNNGRU: a GRU with reset_after, sigmoid/tanh, its (6u,) bias read as (2, 3u)."""
    b = call.weights[2]
    dt = call.x.dtype
    sig = lambda v: apply("sigmoid", v, call.sem)  # noqa: E731
    tanh = lambda v: np.tanh(v).astype(dt, copy=False)  # noqa: E731
    return _gru(call, True, b.reshape(2, -1), sig, tanh)


def conv_lstm2d(call: Call) -> Out:
    """ConvLSTM2D: the LSTM recurrence with convolutions; x (batch, time, *image), kernels (kr, kc, in, 4u)."""
    from kstep.engine.conv import conv

    p = call.params
    x, mask = _prepare(call)
    kernel, rec = call.weights[0], call.weights[1]
    bias = call.weights[2] if p.get("use_bias", True) and len(call.weights) > 2 else None
    u = rec.shape[-1] // 4
    b, t = x.shape[:2]
    fmt = p["data_format"]
    conv_params = dict(filters=4 * u, kernel_size=p["kernel_size"], strides=p["strides"], padding=p["padding"],
                       data_format=fmt, dilation_rate=p["dilation_rate"], groups=1, activation="linear",
                       use_bias=False)
    in_spec = dataclasses.replace(call.layer, kind="Conv2D", params=conv_params)
    rec_spec = dataclasses.replace(call.layer, kind="Conv2D", params=dict(conv_params, strides=(1, 1),
                                                                          padding="same", dilation_rate=(1, 1)))

    def run_conv(spec, value, w):
        sub = Call(layer=spec, inputs=[value], weights=[w], sem=call.sem, dtype=call.dtype)
        return conv(sub).outputs[0]

    xw = run_conv(in_spec, x.reshape((b * t,) + x.shape[2:]), kernel)
    xw = xw.reshape((b, t) + xw.shape[1:])
    axis = 1 if fmt == "channels_first" else -1
    if bias is not None:
        shape = [1] * (xw.ndim - 1)
        shape[axis] = 4 * u
        xw = xw + bias.reshape(shape)
    rec_act, act = _act(call, "recurrent_activation"), _act(call, "activation")

    def gate(z, g):
        return np.take(z, range(g * u, (g + 1) * u), axis=axis)

    def step(xt, states):
        h, c = states
        z = xt + run_conv(rec_spec, h, rec)
        i, f, cc, o = rec_act(gate(z, 0)), rec_act(gate(z, 1)), act(gate(z, 2)), rec_act(gate(z, 3))
        c = f * c + i * cc
        h = o * act(c)
        return h, [h, c]

    state_shape = list(xw.shape[2:])
    state_shape[axis] = u
    zeros = np.zeros([b] + state_shape, dtype=x.dtype)
    if mask is not None:
        raise call.unsupported("a mask into ConvLSTM2D")
    return _run(call, xw, None, step, [zeros, zeros.copy()])


KERNELS = {
    "SimpleRNN": simple_rnn,
    "LSTM": lstm,
    "GRU": gru,
    "CuDNNLSTM": cudnn_lstm,
    "CuDNNGRU": cudnn_gru,
    "ConvLSTM2D": conv_lstm2d,
}
PASSES_MASK: set[str] = set()
