"""Tests of kstep.engine.normalization: BatchNormalization (modes 0/1/2, axes, center/scale), LayerNormalization,
UnitNormalization, GroupNormalization, with hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.normalization import KERNELS
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")
K3 = Semantics("keras3", "3.5.0", "tensorflow")


def run(kind, params, x, weights=(), sem=TFK):
    spec = LayerSpec(name="n", class_name=kind, kind=kind, params=params)
    return KERNELS[kind](Call(layer=spec, inputs=[x], weights=list(weights), sem=sem, dtype=x.dtype)).outputs[0]


def bn(x, weights, sem=TFK, **params):
    base = dict(axis=-1, epsilon=1e-3, center=True, scale=True, mode=0)
    base.update(params)
    return run("BatchNormalization", base, x, weights, sem)


def test_bn_inference_formula_last_axis():
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    gamma, beta = np.array([2.0, 1.0], np.float32), np.array([0.5, -1.0], np.float32)
    mean, var = np.array([1.0, 2.0], np.float32), np.array([4.0, 1.0], np.float32)
    y = bn(x, [gamma, beta, mean, var], epsilon=0.0)
    np.testing.assert_allclose(y, [[0.5, -1.0], [2.5, 3.0]])
    assert y.dtype == np.float32
    y = bn(x, [gamma, beta, mean, var], epsilon=0.5)
    np.testing.assert_allclose(y[1], [2 * 2 / np.sqrt(4.5) + 0.5, 4 / np.sqrt(1.5) - 1.0], rtol=1e-6)


def test_bn_axis1_channels_first_and_missing_gamma_beta():
    x = np.ones((1, 2, 2, 2))
    x[:, 1] = 3.0
    mean, var = np.array([1.0, 1.0]), np.array([1.0, 4.0])
    y = bn(x, [mean, var], axis=1, center=False, scale=False, epsilon=0.0)
    np.testing.assert_allclose(y[0, 0], 0.0)
    np.testing.assert_allclose(y[0, 1], 1.0)
    y = bn(x, [np.array([-1.0, -1.0]), mean, var], axis=[1], scale=False, epsilon=0.0)
    np.testing.assert_allclose(y[0, 1], 0.0)  # beta only


def test_bn_axis_list_over_two_axes():
    x = np.arange(12, dtype=np.float64).reshape(1, 2, 3, 2)
    mean = np.arange(6, dtype=np.float64).reshape(2, 3)
    y = bn(x, [mean, np.ones((2, 3))], axis=[1, 2], center=False, scale=False, epsilon=0.0)
    np.testing.assert_allclose(y, x - mean[None, :, :, None])


def test_bn_keras1_mode1_per_sample_eps_twice():
    x = np.array([[1.0, 3.0], [0.0, 10.0]])
    eps = 0.1
    gamma, beta = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    y = bn(x, [gamma, beta, np.zeros(2), np.ones(2)], sem=K1, mode=1, epsilon=eps)
    std0 = np.sqrt(1.0 + eps) + eps
    np.testing.assert_allclose(y[0], [-1 / std0, 2 / std0 + 1])
    std1 = np.sqrt(25.0 + eps) + eps
    np.testing.assert_allclose(y[1], [-5 / std1, 10 / std1 + 1])


def test_bn_keras1_mode2_uses_batch_statistics():
    x = np.array([[1.0, 0.0], [3.0, 4.0]])
    y = bn(x, [np.ones(2), np.zeros(2), np.full(2, 99.0), np.full(2, 99.0)], sem=K1, mode=2, epsilon=0.0)
    np.testing.assert_allclose(y, [[-1.0, -1.0], [1.0, 1.0]])
    with pytest.raises(UnsupportedLayer):
        bn(x, [np.zeros(2), np.ones(2)], center=False, scale=False, mode=3)


def test_bn_nan_passes_through():
    x = np.array([[np.nan, 1.0]], np.float32)
    y = bn(x, [np.zeros(2, np.float32), np.ones(2, np.float32)], center=False, scale=False)
    assert np.isnan(y[0, 0]) and np.isfinite(y[0, 1])


def test_layer_norm_last_axis_and_two_axes():
    x = np.array([[1.0, 3.0], [2.0, 4.0]], np.float32)
    y = run("LayerNormalization", dict(axis=[-1], epsilon=0.0, center=True, scale=True), x,
            [np.array([2.0, 1.0], np.float32), np.array([0.0, 0.5], np.float32)])
    np.testing.assert_allclose(y[0], [-2.0, 1.5])
    assert y.dtype == np.float32
    x = np.arange(8, dtype=np.float64).reshape(2, 2, 2)
    y = run("LayerNormalization", dict(axis=[1, 2], epsilon=0.0, center=False, scale=False), x)
    np.testing.assert_allclose(y[0].ravel(), (np.arange(4) - 1.5) / np.sqrt(1.25))
    gamma = np.array([[1.0, 2.0], [3.0, 4.0]])  # shape [d1, d2] in the listed axis order
    y2 = run("LayerNormalization", dict(axis=[1, 2], epsilon=0.0, center=False, scale=True), x, [gamma])
    np.testing.assert_allclose(y2, y * gamma)
    y3 = run("LayerNormalization", dict(axis=[2, 1], epsilon=0.0, center=False, scale=True), x, [gamma])
    np.testing.assert_allclose(y3, y * gamma.T)


def test_layer_norm_keras3_rms_scaling_uses_variance():
    x = np.array([[1.0, 3.0]])
    y = run("LayerNormalization", dict(axis=[-1], epsilon=0.0, center=False, scale=True, rms_scaling=True), x,
            [np.ones(2)], sem=K3)
    np.testing.assert_allclose(y, [[1.0, 3.0]])  # var = 1


def test_unit_normalization():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    y = run("UnitNormalization", dict(axis=-1), x)
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.0, 0.0]])
    assert y.dtype == np.float32
    np.testing.assert_allclose(run("UnitNormalization", dict(axis=[-1]), x, sem=K3), y)


def test_group_normalization_groups_channels():
    x = np.array([[[1.0, 3.0, 10.0, 10.0]]])  # (b=1, t=1, c=4), 2 groups of 2 channels
    gamma, beta = np.array([1.0, 1.0, 1.0, 2.0]), np.array([0.0, 0.0, 5.0, 5.0])
    y = run("GroupNormalization", dict(groups=2, axis=-1, epsilon=1e-12, center=True, scale=True), x, [gamma, beta])
    np.testing.assert_allclose(y[0, 0, :2], [-1.0, 1.0])
    np.testing.assert_allclose(y[0, 0, 2:], [5.0, 5.0])  # a constant group normalises to 0
    with pytest.raises(UnsupportedLayer):
        run("GroupNormalization", dict(groups=3, axis=-1), x, [gamma, beta])


def test_group_normalization_channels_first_matches_channels_last():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 3, 6)).astype(np.float32)
    gamma, beta = rng.normal(size=6).astype(np.float32), rng.normal(size=6).astype(np.float32)
    last = run("GroupNormalization", dict(groups=3, axis=-1, epsilon=1e-3), x, [gamma, beta])
    first = run("GroupNormalization", dict(groups=3, axis=1, epsilon=1e-3), np.moveaxis(x, -1, 1), [gamma, beta])
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, rtol=1e-5, atol=1e-6)
    # instance norm when groups == channels
    inst = run("GroupNormalization", dict(groups=-1, axis=-1, epsilon=1e-3, center=False, scale=False), x)
    np.testing.assert_allclose(inst.mean(axis=(1, 2)), 0.0, atol=1e-5)


def test_layer_normalization_of_zero_features_warns_nothing():
    """LayerNormalization over 0 features: an empty output and no numpy 'Mean of empty slice' warning."""
    import warnings

    x = np.zeros((2, 0), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run("LayerNormalization", {"axis": -1, "epsilon": 1e-3, "center": False, "scale": False}, x)
    assert out.shape == (2, 0)
