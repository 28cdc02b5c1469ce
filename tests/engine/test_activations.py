"""Tests of kstep.engine.activations: hand-derived values, generation differences, numeric edges, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kstep.engine import activations as A
from kstep.errors import UnsupportedLayer
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
K2 = Semantics("keras2", "2.2.4", "theano")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")
K3 = Semantics("keras3", "3.5.0", "jax")

X = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])


def act(name, x=X, sem=None, dtype=np.float64):
    return A.apply(name, np.asarray(x, dtype), sem or TFK)


def test_every_activation_keeps_dtype():
    for name in A.ACTIVATIONS:
        for dtype in (np.float32, np.float64):
            x = np.linspace(-4, 4, 12, dtype=dtype).reshape(3, 4)
            y = A.apply(name, x, TFK)
            assert y.dtype == dtype, (name, dtype, y.dtype)
            assert y.shape == ((3, 2) if name == "glu" else x.shape), name


@pytest.mark.parametrize("name,fn", [
    ("relu", lambda v: max(v, 0.0)),
    ("relu6", lambda v: min(max(v, 0.0), 6.0)),
    ("sigmoid", lambda v: 1 / (1 + math.exp(-v))),
    ("tanh", math.tanh),
    ("softplus", lambda v: math.log1p(math.exp(v))),
    ("softsign", lambda v: v / (1 + abs(v))),
    ("elu", lambda v: v if v > 0 else math.expm1(v)),
    ("selu", lambda v: 1.0507009873554805 * (v if v > 0 else 1.6732632423543772 * math.expm1(v))),
    ("exponential", math.exp),
    ("swish", lambda v: v / (1 + math.exp(-v))),
    ("silu", lambda v: v / (1 + math.exp(-v))),
    ("gelu", lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
    ("mish", lambda v: v * math.tanh(math.log1p(math.exp(v)))),
    ("leaky_relu", lambda v: v if v >= 0 else 0.2 * v),
    ("celu", lambda v: max(v, 0) + math.expm1(min(v, 0))),
    ("hard_silu", lambda v: v * min(max(v + 3, 0), 6) / 6),
    ("hard_tanh", lambda v: min(max(v, -1), 1)),
    ("tanh_shrink", lambda v: v - math.tanh(v)),
    ("log_sigmoid", lambda v: -math.log1p(math.exp(-v))),
    ("soft_shrink", lambda v: v - 0.5 if v > 0.5 else (v + 0.5 if v < -0.5 else 0.0)),
    ("hard_shrink", lambda v: v if abs(v) > 0.5 else 0.0),
    ("sparse_plus", lambda v: 0.0 if v <= -1 else ((v + 1) ** 2 / 4 if v < 1 else v)),
    ("sparse_sigmoid", lambda v: min(max((v + 1) / 2, 0), 1)),
    ("squareplus", lambda v: (v + math.sqrt(v * v + 4)) / 2),
])
def test_elementwise_against_scalar_definitions(name, fn):
    np.testing.assert_allclose(act(name), [fn(v) for v in X], rtol=1e-12, atol=1e-15)


def test_hard_sigmoid_per_generation():
    x = np.array([-3.0, -2.0, 1.0, 2.0, 3.0])
    old = [0.0, 0.1, 0.7, 0.9, 1.0]
    for sem in (K1, K2, TFK):
        np.testing.assert_allclose(A.apply("hard_sigmoid", x, sem), old, atol=1e-15)
    np.testing.assert_allclose(A.apply("hard_sigmoid", x, K3), [0.0, 1 / 6, 4 / 6, 5 / 6, 1.0], atol=1e-15)


def test_erf_matches_math_to_float64_precision():
    z = np.concatenate([np.linspace(-8, 8, 1601), [1e-30, -1e-12, 2.0, -2.0, 2.0000001]])
    want = np.array([math.erf(v) for v in z])
    np.testing.assert_allclose(A.erf(z), want, rtol=1e-13, atol=1e-15)
    wantc = np.array([math.erfc(v) for v in z])
    np.testing.assert_allclose(A.erfc(z), wantc, rtol=1e-11, atol=0)
    assert A.erf(np.array([1e-20]))[0] == pytest.approx(2 / math.sqrt(math.pi) * 1e-20, rel=1e-14)
    np.testing.assert_array_equal(A.erfc(np.array([np.inf, -np.inf])), [0.0, 2.0])
    assert np.isnan(A.erfc(np.array([np.nan]))[0])


def test_gelu_relative_accuracy_in_the_tails():
    x = np.array([-12.0, -6.0, -1e-6, 1e-6, 6.0])
    want = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(act("gelu", x), want, rtol=1e-11)
    assert np.isnan(act("gelu", [-np.inf]))[0] and act("gelu", [np.inf])[0] == np.inf


def test_gelu_approximate_tanh_form():
    x = np.array([-2.0, 0.3, 1.7])
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(A.gelu(x, approximate=True), want, rtol=1e-12)


def test_softmax_rows_any_axis_and_stability():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]], np.float32)
    y = act("softmax", x, dtype=np.float32)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(y[1], [0.5, 0.5, 0.0], atol=1e-7)
    col = A.softmax(x, TFK, axis=0)
    np.testing.assert_allclose(col.sum(axis=0), 1.0, rtol=1e-6)
    assert np.all(np.isnan(act("softmax", [[1.0, np.nan]])))


def test_keras1_softmax_refuses_4d():
    x = np.zeros((1, 2, 2, 2))
    with pytest.raises(UnsupportedLayer):
        A.apply("softmax", x, K1, {"name": "s"})
    assert A.apply("softmax", x, K2).shape == x.shape


def test_log_softmax_is_log_of_softmax():
    x = np.array([[0.5, -2.0, 7.0], [800.0, 0.0, -800.0]])
    np.testing.assert_allclose(act("log_softmax", x)[0], np.log(act("softmax", x)[0]), rtol=1e-12)
    np.testing.assert_allclose(act("log_softmax", x)[1], [0.0, -800.0, -1600.0], rtol=1e-12)


def test_large_magnitudes_do_not_overflow():
    x = np.array([-1e4, -100.0, 100.0, 1e4], np.float32)
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_allclose(act("sigmoid", x, dtype=np.float32), [0, 3.7200760e-44, 1, 1], atol=1e-45)
        np.testing.assert_allclose(act("softplus", x, dtype=np.float32), [0, 3.7200760e-44, 100, 1e4], atol=1e-45)
        np.testing.assert_allclose(act("mish", x, dtype=np.float32), [-0.0, 0, 100, 1e4], atol=1e-30)


def test_nan_and_inf_pass_through():
    for name in ("relu", "sigmoid", "tanh", "elu", "softplus", "swish", "selu", "gelu", "leaky_relu"):
        assert np.isnan(act(name, [np.nan])[0]), name
    assert act("relu", [np.inf])[0] == np.inf and act("relu", [-np.inf])[0] == 0
    assert act("sigmoid", [np.inf])[0] == 1 and act("sigmoid", [-np.inf])[0] == 0
    assert act("tanh", [-np.inf])[0] == -1


def test_relu_parametrised_formula():
    x = np.array([-2.0, 0.5, 1.5, 3.0, 10.0])
    y = A.relu(x, negative_slope=0.1, max_value=6.0, threshold=1.0)
    # above threshold: x clipped to 6; below: 0.1 * (x - threshold)
    np.testing.assert_allclose(y, [-0.3, -0.05, 1.5, 3.0, 6.0])
    np.testing.assert_allclose(A.relu(x, max_value=2.0), [0, 0.5, 1.5, 2, 2])


def test_glu_and_sparsemax():
    x = np.array([[1.0, 2.0, 0.0, 3.0]])
    np.testing.assert_allclose(act("glu", x), [[1 / (1 + 1), 2 / (1 + math.exp(-3))]], rtol=1e-12)
    np.testing.assert_allclose(act("sparsemax", np.array([[0.0, 0.1, 5.0], [1.0, 1.0, 1.0]])),
                               [[0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)


def test_unknown_name_is_unsupported():
    with pytest.raises(UnsupportedLayer, match="bogus"):
        A.apply("bogus", np.zeros(2), TFK, {"name": "dense_1"})
    assert A.apply(None, np.ones(2), TFK)[0] == 1
