"""Provides the kernels for Attention, AdditiveAttention, MultiHeadAttention (tf.keras 2 and Keras 3 maths).

Inputs arrive as call.inputs = [query, value(, key)] (key defaults to value) and call.masks in the same order.
Call kwargs (use_causal_mask, return_attention_scores) come from `call.kwargs`, the call's own; an explicit
`attention_mask` tensor is refused. Masked scores get -1e9 added before the
softmax, as Keras does; Attention also zeroes the rows of a masked query and passes the query mask on (tf.keras 2;
Keras 3 ignores propagated masks in Attention/AdditiveAttention, see `_attend`). MultiHeadAttention combines the
query, value and key masks (and the causal mask) in every generation.
"""

from __future__ import annotations

import math

import numpy as np

from kstep.engine.activations import softmax, tanh
from kstep.engine.base import Call, Kernel, Out

_BIG = 1.0e9


def _kwargs(call: Call) -> dict:
    """This call's keyword arguments (use_causal_mask, return_attention_scores, ...)."""
    return dict(call.kwargs)


def _qvk(call: Call) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(query, value, key, [q_mask, v_mask, k_mask]) from call.inputs [query, value(, key)]."""
    if not 2 <= len(call.inputs) <= 3:
        raise call.unsupported(f"expects [query, value(, key)], got {len(call.inputs)} inputs")
    q, v = call.inputs[0], call.inputs[1]
    k = call.inputs[2] if len(call.inputs) == 3 else v
    masks = list(call.masks) + [None] * (3 - len(call.masks))
    if len(call.inputs) == 2:
        masks[2] = masks[1]
    return q, v, k, masks[:3]


def _causal(t: int, s: int) -> np.ndarray:
    """(1, t, s) lower-triangular boolean mask: query step i sees key steps j <= i."""
    return (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]


def _check_kwargs(call: Call, kw: dict) -> None:
    if kw.get("attention_mask") is not None or kw.get("mask") is not None:
        raise call.unsupported("an explicit mask argument is not supported")


def _attend(call: Call, scores: np.ndarray, v: np.ndarray, q_mask, v_mask, causal: bool) -> Out:
    """Shared tail of Attention and AdditiveAttention: mask, softmax over keys, weighted sum, query mask.

    Keras 3 functional models never hand propagated masks to these list-input layers (checked with Keras 3.15.1 on
    the numpy and TensorFlow backends: an Embedding(mask_zero) before Attention changes nothing), so they are
    ignored there; tf.keras 2 applies them.
    """
    dt = scores.dtype
    if call.sem.attention_ignores_propagated_masks:
        q_mask = v_mask = None
    mask = None
    if v_mask is not None:
        mask = np.asarray(v_mask, bool)[:, None, :]
    if causal:
        c = _causal(scores.shape[-2], scores.shape[-1])
        mask = c if mask is None else mask & c
    if mask is not None:
        scores = scores - np.asarray(_BIG, dt) * (~mask).astype(dt)
    weights = softmax(scores, call.sem, axis=-1)
    result = np.matmul(weights, v)
    if q_mask is not None:
        result = result * np.asarray(q_mask, bool)[..., None].astype(dt)
    outputs = [result]
    if _kwargs(call).get("return_attention_scores"):
        outputs.append(weights)
    masks = None if q_mask is None else [np.asarray(q_mask, bool)] + [None] * (len(outputs) - 1)
    return Out(outputs, masks=masks)


def attention(call: Call) -> Out:
    """Luong attention: scores = q k^T (* scale) or concat: w * sum(tanh(scale * (q + k))); softmax; @ v.

    q (b, tq, d), v (b, tv, dv), k (b, tv, d). Weights: [scale if use_scale], [concat_score_weight if concat].
    """
    q, v, k, (q_mask, v_mask, _) = _qvk(call)
    kw = _kwargs(call)
    _check_kwargs(call, kw)
    ws = list(call.weights)
    scale = ws.pop(0) if call.params.get("use_scale") and ws else None
    mode = call.params.get("score_mode", "dot")
    if mode == "dot":
        scores = np.matmul(q, np.swapaxes(k, -1, -2))
        if scale is not None:
            scores = scores * scale
    elif mode == "concat":
        if not ws:
            raise call.unsupported("score_mode 'concat' without concat_score_weight")
        s = q[..., :, None, :] + k[..., None, :, :]
        if scale is not None:
            s = scale * s
        scores = ws.pop(0) * np.sum(tanh(s), axis=-1)
    else:
        raise call.unsupported(f"score_mode '{mode}'")
    causal = bool(call.params.get("causal") or kw.get("use_causal_mask"))
    return _attend(call, scores.astype(q.dtype, copy=False), v, q_mask, v_mask, causal)


def additive_attention(call: Call) -> Out:
    """Bahdanau attention: scores = sum(scale * tanh(q + k), -1) (scale (d,) if use_scale); softmax; @ v."""
    q, v, k, (q_mask, v_mask, _) = _qvk(call)
    kw = _kwargs(call)
    _check_kwargs(call, kw)
    t = tanh(q[..., :, None, :] + k[..., None, :, :])
    if call.params.get("use_scale", True) and call.weights:
        t = call.weights[0] * t
    scores = np.sum(t, axis=-1)
    causal = bool(call.params.get("causal") or kw.get("use_causal_mask"))
    return _attend(call, scores, v, q_mask, v_mask, causal)


def _project(x: np.ndarray, kernel: np.ndarray, bias) -> np.ndarray:
    """EinsumDense '...d,dhk->...hk' (+ bias (h, k))."""
    y = np.tensordot(x, kernel, axes=([-1], [0]))
    return y + bias if bias is not None else y


def _mha_weights(call: Call) -> list:
    """[wq, bq, wk, bk, wv, bv, wo, bo] with None biases when use_bias is False."""
    ws = list(call.weights)
    if call.params.get("use_bias", True):
        if len(ws) != 8:
            raise call.unsupported(f"expected 8 weights (4 kernels, 4 biases), got {len(ws)}")
        return ws
    if len(ws) != 4:
        raise call.unsupported(f"expected 4 kernels without biases, got {len(ws)}")
    return [ws[0], None, ws[1], None, ws[2], None, ws[3], None]


def multi_head_attention(call: Call) -> Out:
    """MultiHeadAttention: project q/k/v per head, softmax(q k / sqrt(key_dim)) over the attention axes, project out.

    q (b, *tq, dq) -> (b, *tq, h, key_dim); attention_axes (default: every axis but batch and features) are flattened
    into one axis; the other inner axes act as extra batch axes. Output (b, *tq, out_dim).
    """
    q_in, v_in, k_in, (q_mask, v_mask, k_mask) = _qvk(call)
    kw = _kwargs(call)
    _check_kwargs(call, kw)
    wq, bq, wk, bk, wv, bv, wo, bo = _mha_weights(call)
    rank = q_in.ndim
    axes = call.params.get("attention_axes")
    if axes is None:
        att = list(range(1, rank - 1))
    else:
        att = sorted(int(a) % rank for a in ([axes] if isinstance(axes, int) else axes))
    other = [a for a in range(1, rank - 1) if a not in att]
    if not att or 0 in att or rank - 1 in att:
        raise call.unsupported(f"attention_axes {axes} on rank {rank}")
    if v_in.ndim != rank or k_in.ndim != rank:
        raise call.unsupported("query, key and value of different ranks")

    def heads(x, w, b):
        # (b, *inner, d) -> (b, O, A, h, dim) with O/A the flattened other/attention axes
        y = _project(x, w, b)
        perm = [0] + other + att + [rank - 1 + 0, rank]
        y = np.transpose(y, perm)
        o = int(np.prod([x.shape[a] for a in other])) if other else 1
        a = int(np.prod([x.shape[i] for i in att]))
        return y.reshape(x.shape[0], o, a, y.shape[-2], y.shape[-1])

    key_dim = wq.shape[-1]
    q = heads(q_in, wq, bq) * np.asarray(1.0 / math.sqrt(float(key_dim)), q_in.dtype)
    k = heads(k_in, wk, bk)
    v = heads(v_in, wv, bv)
    scores = np.einsum("boqhd,bokhd->bohqk", q, k)

    mask = None
    if kw.get("use_causal_mask") or call.params.get("causal"):
        mask = _causal(scores.shape[-2], scores.shape[-1])[:, None, None]
    if (q_mask is not None or v_mask is not None or k_mask is not None) and rank != 3:
        raise call.unsupported("propagated masks on inputs of rank > 3")
    if q_mask is not None:
        m = np.asarray(q_mask, bool)[:, None, None, :, None]
        mask = m if mask is None else mask & m
    for m_in in (v_mask, k_mask):
        if m_in is not None:
            m = np.asarray(m_in, bool)[:, None, None, None, :]
            mask = m if mask is None else mask & m
    if mask is not None:
        scores = scores + (np.asarray(1, scores.dtype) - mask.astype(scores.dtype)) * np.asarray(-_BIG, scores.dtype)
    weights = softmax(scores, call.sem, axis=-1)
    ctx = np.einsum("bohqk,bokhd->boqhd", weights, v)  # (b, O, A, h, value_dim)

    # undo the flattening: (b, *other, *att_q, h, vd) then back to the query's axis order
    o_shape = [q_in.shape[a] for a in other]
    a_shape = [q_in.shape[a] for a in att]
    ctx = ctx.reshape([q_in.shape[0]] + o_shape + a_shape + list(ctx.shape[-2:]))
    perm = [0] + other + att + [rank - 1, rank]
    ctx = np.transpose(ctx, np.argsort(perm))
    out = np.tensordot(ctx, wo, axes=([-2, -1], [0, 1]))
    if bo is not None:
        out = out + bo
    outputs = [out.astype(q_in.dtype, copy=False)]
    if kw.get("return_attention_scores"):
        w = weights.reshape([q_in.shape[0]] + o_shape + list(weights.shape[2:]))
        outputs.append(w)
    masks = None if q_mask is None else [np.asarray(q_mask, bool)] + [None] * (len(outputs) - 1)
    return Out(outputs, masks=masks)


KERNELS: dict[str, Kernel] = {
    "Attention": attention,
    "AdditiveAttention": additive_attention,
    "MultiHeadAttention": multi_head_attention,
}
