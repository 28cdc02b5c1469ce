"""Tests of kstep.engine.advanced: LeakyReLU, PReLU, ELU, ThresholdedReLU, ReLU, Softmax and Keras 1
ParametricSoftplus/SReLU, with hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.advanced import KERNELS
from kstep.engine.base import Call
from kstep.engine.registry import PASSES_MASK as ALL_PASSES_MASK
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

PASSES_MASK = ALL_PASSES_MASK & set(KERNELS)  # the advanced activations among the kinds that pass a mask through

K1 = Semantics("keras1", "1.2.2", "theano")
K2 = Semantics("keras2", "2.2.4", "theano")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")

X = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], np.float32)


def run(kind, params, x, weights=(), sem=TFK, masks=()):
    spec = LayerSpec(name="a", class_name=kind, kind=kind, params=params)
    call = Call(layer=spec, inputs=[x], weights=list(weights), sem=sem, dtype=x.dtype, masks=list(masks))
    return KERNELS[kind](call).outputs[0]


def test_leaky_relu_alpha_and_keras3_spelling():
    y = run("LeakyReLU", dict(alpha=0.1), X)
    np.testing.assert_allclose(y, [[-0.2, -0.05, 0.0, 0.5, 2.0]])
    assert y.dtype == np.float32
    np.testing.assert_allclose(run("LeakyReLU", dict(negative_slope=0.5), X)[0, 0], -1.0)
    np.testing.assert_allclose(run("LeakyReLU", {}, X)[0, 0], -0.6)


def test_prelu_per_feature_and_shared_axes():
    alpha = np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)
    np.testing.assert_allclose(run("PReLU", {}, X, [alpha]), [[-0.2, -0.1, 0.0, 0.5, 2.0]])
    x = -np.ones((1, 2, 2, 3), np.float32)
    shared = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 1, 3)  # shared_axes [1, 2]
    y = run("PReLU", dict(shared_axes=[1, 2]), x, [shared])
    np.testing.assert_array_equal(y[0, 1, 1], [-1.0, -2.0, -3.0])
    with pytest.raises(UnsupportedLayer):
        run("PReLU", {}, x, [np.ones(2, np.float32)])


def test_elu_thresholded_relu():
    np.testing.assert_allclose(run("ELU", dict(alpha=2.0), X), [[2 * np.expm1(-2), 2 * np.expm1(-0.5), 0, 0.5, 2]],
                               rtol=1e-6)
    np.testing.assert_array_equal(run("ThresholdedReLU", dict(theta=0.5), X), [[0, 0, 0, 0, 2.0]])
    assert np.isnan(run("ThresholdedReLU", dict(theta=1.0), np.array([[-np.inf]], np.float32))[0, 0])


def test_relu_layer_variants():
    x = np.array([[-2.0, 0.5, 1.5, 3.0, 10.0]], np.float32)
    y = run("ReLU", dict(max_value=6.0, negative_slope=0.1, threshold=1.0), x)
    np.testing.assert_allclose(y, [[-0.3, -0.05, 1.5, 3.0, 6.0]], rtol=1e-6)
    np.testing.assert_array_equal(run("ReLU", dict(max_value=None, negative_slope=0.0, threshold=0.0), x),
                                  [[0, 0.5, 1.5, 3, 10]])


def test_softmax_axis_and_keras2_2d_ignores_axis():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    cols = run("Softmax", dict(axis=0), x)
    np.testing.assert_allclose(cols.sum(axis=0), 1.0, rtol=1e-6)
    rows = run("Softmax", dict(axis=0), x, sem=K2)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_mask_adds_large_negative():
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    y = run("Softmax", dict(axis=-1), x, masks=[np.array([[True, True, False]])])
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(y, [[*(e / e.sum()), 0.0]], rtol=1e-6, atol=1e-30)


def test_parametric_softplus():
    alphas, betas = np.full(5, 2.0, np.float32), np.full(5, 0.5, np.float32)
    y = run("ParametricSoftplus", {}, X, [alphas, betas], sem=K1)
    np.testing.assert_allclose(y, 2 * np.log1p(np.exp(0.5 * X)), rtol=1e-6)
    assert y.dtype == np.float32


def test_srelu_three_pieces():
    x = np.array([[-3.0, -1.0, 0.0, 1.0, 2.0, 4.0]])
    t_left, a_left = np.full(6, -1.0), np.full(6, 0.5)
    t_right, a_right = np.full(6, -3.0), np.full(6, 2.0)  # stored offset: t_r = -1 + |-3| = 2
    y = run("SReLU", {}, x, [t_left, a_left, t_right, a_right], sem=K1)
    # left: -1 + 0.5(x + 1); centre: x; right: 2 + 2(x - 2)
    np.testing.assert_allclose(y, [[-2.0, -1.0, 0.0, 1.0, 2.0, 6.0]])


def test_all_pass_masks():
    assert PASSES_MASK == set(KERNELS)
