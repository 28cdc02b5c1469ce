"""Tests of kstep.engine.merge: Keras 2 merge layers, batch_dot shapes, Dot(normalize) per generation, the seven
Keras 1 Merge modes (cos gives (b, 1, 1)), and mask combination."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.merge import KERNELS, batch_dot
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
K2 = Semantics("keras2", "2.2.4", "theano")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")
K3 = Semantics("keras3", "3.5.0", "tensorflow")

A = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]], np.float32)
B = np.array([[2.0, 2.0, 1.0], [1.0, 5.0, -4.0]], np.float32)


def run(kind, params, inputs, sem=TFK, masks=()):
    spec = LayerSpec(name="m", class_name=kind, kind=kind, params=params)
    return KERNELS[kind](Call(layer=spec, inputs=list(inputs), weights=[], sem=sem, dtype=inputs[0].dtype,
                              masks=list(masks)))


def out(kind, params, inputs, sem=TFK):
    return run(kind, params, inputs, sem).outputs[0]


@pytest.mark.parametrize("kind,want", [
    ("Add", A + B), ("Subtract", A - B), ("Multiply", A * B), ("Average", (A + B) / 2),
    ("Maximum", np.maximum(A, B)), ("Minimum", np.minimum(A, B)),
])
def test_elementwise_merges(kind, want):
    y = out(kind, {}, [A, B])
    np.testing.assert_array_equal(y, want)
    assert y.dtype == np.float32


def test_three_inputs_and_lower_rank_broadcast_at_axis_1():
    np.testing.assert_array_equal(out("Add", {}, [A, B, A]), 2 * A + B)
    np.testing.assert_allclose(out("Average", {}, [A, B, A]), (2 * A + B) / 3)
    seq = np.ones((2, 4, 3), np.float32)
    y = out("Add", {}, [seq, A])  # (2, 3) becomes (2, 1, 3) as in Keras 2 _Merge
    np.testing.assert_array_equal(y[:, 2], A + 1)
    with pytest.raises(UnsupportedLayer):
        out("Subtract", {}, [A, B, A])
    with pytest.raises(UnsupportedLayer):
        out("Add", {}, [A, np.ones((2, 4), np.float32)])


def test_concatenate_axis():
    assert out("Concatenate", dict(axis=-1), [A, B]).shape == (2, 6)
    np.testing.assert_array_equal(out("Concatenate", dict(axis=0), [A, B]), np.vstack([A, B]))


def test_batch_dot_shapes():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    y = np.arange(40, dtype=np.float64).reshape(2, 4, 5)
    np.testing.assert_allclose(batch_dot(x, y, [2, 1]), np.einsum("bij,bjk->bik", x, y))
    assert batch_dot(A, B, [1, 1]).shape == (2, 1)
    np.testing.assert_allclose(batch_dot(x, x, [2, 2]), np.einsum("bij,bkj->bik", x, x))
    v = np.arange(6, dtype=np.float64).reshape(2, 3)
    np.testing.assert_allclose(batch_dot(v, x, [1, 1]), np.einsum("bi,bij->bj", v, x))


def test_dot_layer_and_normalize_per_generation():
    np.testing.assert_array_equal(out("Dot", dict(axes=1), [A, B]), [[9.0], [-17.0]])
    np.testing.assert_array_equal(out("Dot", dict(axes=[-1, -1]), [A, B]), [[9.0], [-17.0]])
    cos = np.sum(A * B, 1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    for sem in (K2, TFK, K3):
        np.testing.assert_allclose(out("Dot", dict(axes=1, normalize=True), [A, B], sem)[:, 0], cos, rtol=1e-6)
    tiny = np.array([[1e-5, 0.0]], np.float64)
    one = np.array([[1.0, 0.0]])
    # Keras 2 Theano floors the squared sum at 1e-7, tf.keras at 1e-12, Keras 3 the norm at 1e-7
    assert out("Dot", dict(axes=1, normalize=True), [tiny, one], K2)[0, 0] == pytest.approx(1e-5 / np.sqrt(1e-7))
    assert out("Dot", dict(axes=1, normalize=True), [tiny, one], TFK)[0, 0] == pytest.approx(1.0)
    assert out("Dot", dict(axes=1, normalize=True), [tiny, one], K3)[0, 0] == pytest.approx(1.0)
    zero = np.zeros((1, 2))
    assert out("Dot", dict(axes=1, normalize=True), [zero, one], K3)[0, 0] == 0.0
    with pytest.raises(UnsupportedLayer):
        out("Dot", dict(axes=1), [A, np.ones((2, 4), np.float32)])


@pytest.mark.parametrize("mode,want", [
    ("sum", A + B), ("mul", A * B), ("ave", (A + B) / 2), ("max", np.maximum(A, B)),
    ("concat", np.hstack([A, B])),
])
def test_keras1_merge_simple_modes(mode, want):
    y = out("Merge", dict(mode=mode, concat_axis=-1, dot_axes=-1), [A, B], K1)
    np.testing.assert_allclose(y, want)


def test_keras1_merge_dot_and_cos_shapes():
    y = out("Merge", dict(mode="dot", dot_axes=[1, 1]), [A, B], K1)
    np.testing.assert_array_equal(y, [[9.0], [-17.0]])
    c = out("Merge", dict(mode="cos", dot_axes=-1), [A, B], K1)
    assert c.shape == (2, 1, 1) and c.dtype == np.float32
    cos = np.sum(A * B, 1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(c[:, 0, 0], cos, rtol=1e-6)
    z = out("Merge", dict(mode="cos", dot_axes=1), [np.zeros((1, 2)), np.ones((1, 2))], K1)
    assert z[0, 0, 0] == 0.0  # denominator floored at 1e-7


def test_keras1_merge_lambda_is_unsupported():
    with pytest.raises(UnsupportedLayer, match="lambda"):
        out("Merge", dict(mode="lambda"), [A, B], K1)
    with pytest.raises(UnsupportedLayer):
        out("Merge", dict(mode=["code"]), [A, B], K1)
    with pytest.raises(UnsupportedLayer):
        out("Merge", dict(mode="dot", dot_axes=1), [A, np.ones((2, 4), np.float32)], K1)


def test_masks_and_for_elementwise_concat_for_concatenate():
    x = np.ones((1, 3, 2), np.float32)
    m1, m2 = np.array([[True, True, False]]), np.array([[False, True, True]])
    r = run("Add", {}, [x, x], masks=[m1, m2])
    np.testing.assert_array_equal(r.masks[0], [[False, True, False]])
    assert run("Add", {}, [x, x]).masks is None
    assert run("Add", {}, [x, x], masks=[None, m2]).masks[0].tolist() == m2.tolist()
    r = run("Concatenate", dict(axis=1), [x, x], masks=[m1, None])
    np.testing.assert_array_equal(r.masks[0], [[True, True, False, True, True, True]])
    r = run("Concatenate", dict(axis=-1), [x, x], masks=[m1, m2])
    np.testing.assert_array_equal(r.masks[0], [[False, True, False]])
    assert run("Dot", dict(axes=2), [x, x], masks=[m1, m2]).masks is None
