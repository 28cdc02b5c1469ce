"""Tests of kstep.engine.attention: Attention (dot/concat, scale, causal, masks), AdditiveAttention and
MultiHeadAttention against straightforward per-head numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.attention import KERNELS
from kstep.engine.base import Call
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerCall, LayerSpec
from kstep.semantics import Semantics

TFK = Semantics("tf.keras", "2.15.0", "tensorflow")
K3 = Semantics("keras3", "3.5.0", "tensorflow")
RNG = np.random.default_rng(7)


def run(kind, params, inputs, weights=(), masks=(), kwargs=None, sem=K3):
    spec = LayerSpec(name="att", class_name=kind, kind=kind, params=params,
                     calls=[LayerCall(inputs=[], kwargs=kwargs or {})])
    call = Call(layer=spec, inputs=list(inputs), weights=list(weights), sem=sem, dtype=inputs[0].dtype,
                masks=list(masks), kwargs=kwargs or {})
    return KERNELS[kind](call)


def smax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_dot_attention_scale_and_key():
    q, v, k = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 6)), RNG.normal(size=(2, 5, 4))
    out = run("Attention", dict(use_scale=True, score_mode="dot"), [q, v, k], [np.array(0.5)])
    want = smax(0.5 * q @ k.transpose(0, 2, 1)) @ v
    np.testing.assert_allclose(out.outputs[0], want, rtol=1e-12)
    out = run("Attention", dict(use_scale=False), [q, k])  # key defaults to value
    np.testing.assert_allclose(out.outputs[0], smax(q @ k.transpose(0, 2, 1)) @ k, rtol=1e-12)


def test_concat_attention():
    q, v = RNG.normal(size=(1, 2, 3)), RNG.normal(size=(1, 4, 3))
    out = run("Attention", dict(use_scale=True, score_mode="concat"), [q, v], [np.array(2.0), np.array(0.7)])
    s = 0.7 * np.tanh(2.0 * (q[:, :, None, :] + v[:, None, :, :])).sum(-1)
    np.testing.assert_allclose(out.outputs[0], smax(s) @ v, rtol=1e-12)


def test_attention_causal_masks_and_scores_output():
    q = RNG.normal(size=(1, 3, 2)).astype(np.float32)
    v_mask, q_mask = np.array([[True, True, False]]), np.array([[True, False, True]])
    out = run("Attention", dict(use_scale=False), [q, q], masks=[q_mask, v_mask], sem=TFK,
              kwargs=dict(use_causal_mask=True, return_attention_scores=True))
    y, w = out.outputs
    assert y.dtype == np.float32
    np.testing.assert_allclose(w[0, 0], [1.0, 0.0, 0.0], atol=1e-7)
    assert w[0, 2, 2] < 1e-6 and abs(w[0, 2, :2].sum() - 1) < 1e-6
    np.testing.assert_array_equal(y[0, 1], [0.0, 0.0])
    np.testing.assert_array_equal(out.masks[0], q_mask)
    k3 = run("Attention", dict(use_scale=False), [q, q], masks=[q_mask, v_mask], sem=K3)
    np.testing.assert_allclose(k3.outputs[0], run("Attention", dict(use_scale=False), [q, q]).outputs[0])
    assert k3.masks is None  # Keras 3 functional models never pass these masks (checked on 3.15.1)
    legacy = run("Attention", dict(use_scale=False, causal=True), [q, q], sem=TFK)
    np.testing.assert_allclose(legacy.outputs[0][0, 0], q[0, 0], rtol=1e-6)


def test_additive_attention():
    q, v = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    scale = RNG.normal(size=4)
    out = run("AdditiveAttention", dict(use_scale=True), [q, v], [scale])
    s = (scale * np.tanh(q[:, :, None, :] + v[:, None, :, :])).sum(-1)
    np.testing.assert_allclose(out.outputs[0], smax(s) @ v, rtol=1e-12)


def mha_weights(dq, dv, h, kd, vd, out, bias=True):
    ws = [RNG.normal(size=(dq, h, kd)), RNG.normal(size=(h, kd)), RNG.normal(size=(dv, h, kd)),
          RNG.normal(size=(h, kd)), RNG.normal(size=(dv, h, vd)), RNG.normal(size=(h, vd)),
          RNG.normal(size=(h, vd, out)), RNG.normal(size=(out,))]
    return ws if bias else ws[0::2]


def mha_reference(q, v, ws, causal=False):
    wq, bq, wk, bk, wv, bv, wo, bo = ws
    h, kd = bq.shape
    out = np.zeros(q.shape[:2] + (wo.shape[-1],))
    for i in range(h):
        qi = (q @ wq[:, i] + bq[i]) / np.sqrt(kd)
        ki, vi = v @ wk[:, i] + bk[i], v @ wv[:, i] + bv[i]
        s = qi @ ki.transpose(0, 2, 1)
        if causal:
            s = s + np.triu(np.full(s.shape[-2:], -1e9), 1)
        out += smax(s) @ vi @ wo[i]
    return out + bo


def test_multi_head_attention_matches_per_head_loop():
    q, v = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 6))
    ws = mha_weights(4, 6, h=2, kd=3, vd=2, out=4)
    out = run("MultiHeadAttention", dict(num_heads=2, key_dim=3, value_dim=2, use_bias=True), [q, v], ws)
    np.testing.assert_allclose(out.outputs[0], mha_reference(q, v, ws), rtol=1e-10)


def test_multi_head_attention_causal_and_no_bias():
    q = RNG.normal(size=(1, 4, 3)).astype(np.float32)
    ws = [w.astype(np.float32) for w in mha_weights(3, 3, h=2, kd=2, vd=2, out=3)]
    got = run("MultiHeadAttention", dict(num_heads=2, key_dim=2), [q, q], ws, kwargs=dict(use_causal_mask=True))
    assert got.outputs[0].dtype == np.float32
    np.testing.assert_allclose(got.outputs[0], mha_reference(q, q, ws, causal=True), rtol=1e-4, atol=1e-5)
    nb = [w for w in ws]
    for i in (1, 3, 5):
        nb[i] = np.zeros_like(nb[i])
    nb[7] = np.zeros_like(nb[7])
    got = run("MultiHeadAttention", dict(num_heads=2, key_dim=2, use_bias=False), [q, q], nb[0::2])
    np.testing.assert_allclose(got.outputs[0], mha_reference(q, q, nb), rtol=1e-4, atol=1e-5)
    with pytest.raises(UnsupportedLayer):
        run("MultiHeadAttention", dict(num_heads=2, key_dim=2), [q, q], ws[:6])


def test_multi_head_attention_2d_attention_axes_flatten():
    x = RNG.normal(size=(1, 2, 3, 4))
    ws = mha_weights(4, 4, h=1, kd=2, vd=2, out=4)
    got = run("MultiHeadAttention", dict(num_heads=1, key_dim=2, attention_axes=None), [x, x], ws).outputs[0]
    flat = x.reshape(1, 6, 4)
    np.testing.assert_allclose(got.reshape(1, 6, 4), mha_reference(flat, flat, ws), rtol=1e-10)
    per_row = run("MultiHeadAttention", dict(num_heads=1, key_dim=2, attention_axes=[2]), [x, x], ws).outputs[0]
    for r in range(2):
        np.testing.assert_allclose(per_row[:, r], mha_reference(x[:, r], x[:, r], ws), rtol=1e-10)
