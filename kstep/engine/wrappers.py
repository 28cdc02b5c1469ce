"""Provides the kernels for TimeDistributed and Bidirectional, which run their inner layers via `call.run`.

TimeDistributed folds time into the batch axis: (batch, time, ...) -> (batch*time, ...) -> inner -> back. From
Keras 2 on (`sem.time_distributed_folds_mask`), a mask with more than two axes (batch, time, steps...) reaches the
inner layer folded the same way; the output mask is the inner layer's own (unfolded), else the input mask (tf.keras
2 and Keras 2 reduce its extra axes with any(); Keras 1 and Keras 3 pass it unchanged:
`sem.time_distributed_mask_unchanged`).
Bidirectional runs the forward and the backward layer (whose spec already has go_backwards set, as Keras builds
it), reverses the backward sequence when return_sequences, and merges with concat, sum, ave, mul or None
(two outputs). With return_state the outputs are [merged (or both), forward states..., backward states...].
tf.keras 2 and Keras 3 set zero_output_for_mask on both inner layers when returning sequences
(`sem.bidirectional_zero_output_for_mask`): masked steps are zeros there, not the repeated previous output.
"""

from __future__ import annotations

import numpy as np

from kstep.engine.base import Call, Kernel, Out, output_masks

# ------------------------------------------------------------------------------------------------ TimeDistributed

def _fold(a: np.ndarray) -> np.ndarray:
    """(batch, time, ...) -> (batch*time, ...)."""
    return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


def _unfold(a: np.ndarray, b: int, t: int) -> np.ndarray:
    """(batch*time, ...) -> (batch, time, ...)."""
    return a.reshape((b, t) + a.shape[1:])


def _td_output_mask(call: Call, inner: Out, inner_mask: np.ndarray | None, b: int, t: int):
    """TimeDistributed's output mask, (batch, time, ...) or None."""
    mask = call.mask
    if mask is None or call.sem.time_distributed_mask_unchanged:
        return mask
    inner_masks = output_masks(call.layer.wrapped[0].kind, inner, inner_mask)
    got = inner_masks[0] if inner_masks else None
    if got is not None:
        return _unfold(got, b, t)
    return np.any(mask, axis=tuple(range(2, mask.ndim))) if mask.ndim > 2 else mask


def time_distributed(call: Call) -> Out:
    """Apply the wrapped layer to every time step: x (batch, time, ...) -> (batch, time, ...out)."""
    x = call.x
    if x.ndim < 3:
        raise call.unsupported(f"TimeDistributed needs (batch, time, ...) input, got shape {x.shape}")
    b, t = x.shape[:2]
    mask = call.mask
    inner_mask = _fold(mask) if mask is not None and mask.ndim > 2 and call.sem.time_distributed_folds_mask else None
    inner = call.run(call.layer.wrapped[0], [_fold(x)], [inner_mask])
    outs = [_unfold(o, b, t) for o in inner.outputs]
    pre = inner.pre_activation
    out_mask = _td_output_mask(call, inner, inner_mask, b, t)
    return Out(outs, pre_activation=None if pre is None else _unfold(pre, b, t),
               masks=[out_mask] + [None] * (len(outs) - 1))


# -------------------------------------------------------------------------------------------------- Bidirectional

def _merge(mode, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Merge the forward and backward outputs (same shapes): one array, or both for merge_mode None."""
    if mode == "concat":
        return [np.concatenate([a, b], axis=-1)]
    if mode == "sum":
        return [a + b]
    if mode == "ave":
        return [(a + b) / np.asarray(2, a.dtype)]
    if mode == "mul":
        return [a * b]
    return [a, b]


def _zero_masked(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """y (batch, time, ...) (or time-major) with the masked steps set to zero; mask matches y's first two axes."""
    m = np.asarray(mask, bool).reshape(mask.shape + (1,) * (y.ndim - 2))
    return np.where(m, y, np.zeros_like(y))


def bidirectional(call: Call) -> Out:
    """Forward and backward recurrences over x (batch, time, f), merged: concat (.., 2u), sum/ave/mul (.., u),
    None -> two outputs; then forward states, backward states when return_state."""
    forward, backward = call.layer.wrapped
    mode = call.params.get("merge_mode", "concat")
    if mode not in ("concat", "sum", "ave", "mul", None):
        raise call.unsupported(f"merge_mode={mode!r}")
    fwd = call.run(forward, [call.x], [call.mask])
    bwd = call.run(backward, [call.x], [call.mask])
    a, b = fwd.outputs[0], bwd.outputs[0]
    seq = bool(forward.params.get("return_sequences"))
    time_axis = 0 if forward.params.get("time_major") else 1
    mask = call.mask
    if mask is not None and np.ndim(mask) == 3:  # Keras 3 after a TimeDistributed: per step, any entry counts
        mask = np.any(mask, axis=-1)
    if seq and mask is not None and np.ndim(mask) == 2 and call.sem.bidirectional_zero_output_for_mask:
        # tf.keras 2 and Keras 3 force zero_output_for_mask on both directions when returning sequences;
        # a go_backwards layer's sequence is in its walk order (reversed time)
        def walk(spec):
            return np.flip(mask, axis=time_axis) if spec.params.get("go_backwards") else mask

        a, b = _zero_masked(a, walk(forward)), _zero_masked(b, walk(backward))
    if seq:
        b = np.flip(b, axis=time_axis)
    outs = _merge(mode, a, b) + fwd.outputs[1:] + bwd.outputs[1:]
    n_main = 1 if mode is not None else 2
    out_mask = call.mask if seq else None
    return Out(outs, masks=[out_mask] * n_main + [None] * (len(outs) - n_main))


KERNELS: dict[str, Kernel] = {
    "TimeDistributed": time_distributed,
    "Bidirectional": bidirectional,
}
