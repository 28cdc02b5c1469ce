"""Provides the kernels for TimeDistributed and Bidirectional, which run their inner layers via `call.run_inner`.

TimeDistributed folds time into the batch axis: (batch, time, ...) -> (batch*time, ...) -> inner -> back.
Bidirectional runs the forward and the backward layer (whose spec already has go_backwards set, as Keras builds
it), reverses the backward sequence when return_sequences, and merges with concat, sum, ave, mul or None
(two outputs). With return_state the outputs are [merged (or both), forward states..., backward states...].
tf.keras 2 and Keras 3 set zero_output_for_mask on both inner layers when returning sequences: masked steps are
zeros there, not the repeated previous output (seen in tests/fixtures/modern embedding_mask_bilstm_td).
"""

from __future__ import annotations

import numpy as np

from kstep.engine.base import Call, Out


def time_distributed(call: Call) -> Out:
    x = call.x
    b, t = x.shape[:2]
    inner = call.run_inner(call.layer.wrapped[0], [x.reshape((b * t,) + x.shape[2:])], [None])
    outs = [o.reshape((b, t) + o.shape[1:]) for o in inner.outputs]
    pre = inner.pre_activation
    return Out(outs, pre_activation=None if pre is None else pre.reshape((b, t) + pre.shape[1:]),
               masks=[call.mask] + [None] * (len(outs) - 1))


def _merge(mode, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    if mode == "concat":
        return [np.concatenate([a, b], axis=-1)]
    if mode == "sum":
        return [a + b]
    if mode == "ave":
        return [(a + b) / np.asarray(2, a.dtype)]
    if mode == "mul":
        return [a * b]
    return [a, b]


def bidirectional(call: Call) -> Out:
    forward, backward = call.layer.wrapped
    mode = call.params.get("merge_mode", "concat")
    if mode not in ("concat", "sum", "ave", "mul", None):
        raise call.unsupported(f"merge_mode={mode!r}")
    fwd = call.run_inner(forward, [call.x], [call.mask])
    bwd = call.run_inner(backward, [call.x], [call.mask])
    a, b = fwd.outputs[0], bwd.outputs[0]
    seq = bool(forward.params.get("return_sequences"))
    if seq and call.mask is not None and call.sem.generation in ("tf.keras", "keras3"):
        # tf.keras 2 and Keras 3 force zero_output_for_mask on both directions when returning sequences
        a = np.where(call.mask[:, :, None], a, np.zeros_like(a))
        b = np.where(call.mask[:, ::-1, None], b, np.zeros_like(b))
    if seq:
        b = b[:, ::-1]
    outs = _merge(mode, a, b) + fwd.outputs[1:] + bwd.outputs[1:]
    n_main = 1 if mode is not None else 2
    mask = call.mask if seq else None
    return Out(outs, masks=[mask] * n_main + [None] * (len(outs) - n_main))


KERNELS = {
    "TimeDistributed": time_distributed,
    "Bidirectional": bidirectional,
}
PASSES_MASK: set[str] = set()
