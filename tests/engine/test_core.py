"""Tests of kstep.engine.core: Dense, Activation, identity layers, reshaping, Masking, Embedding, preprocessing,
Keras 1 Highway/MaxoutDense, with hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.core import KERNELS
from kstep.engine.registry import PASSES_MASK
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
K2 = Semantics("keras2", "2.2.4", "theano")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")


def run(kind, params, inputs, weights=(), sem=TFK, masks=()):
    inputs = inputs if isinstance(inputs, list) else [inputs]
    spec = LayerSpec(name="l", class_name=kind, kind=kind, params=params)
    call = Call(layer=spec, inputs=inputs, weights=list(weights), sem=sem, dtype=inputs[0].dtype, masks=list(masks))
    return KERNELS[kind](call)


def test_dense_2d_relu_with_pre_activation():
    x = np.array([[1.0, -2.0]], np.float32)
    w = np.array([[1.0, 2.0, 0.0], [1.0, 1.0, 3.0]], np.float32)
    b = np.array([0.5, 0.0, -1.0], np.float32)
    out = run("Dense", dict(units=3, activation="relu", use_bias=True), x, [w, b], sem=K2)
    np.testing.assert_array_equal(out.outputs[0], [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(out.pre_activation, [[-0.5, 0.0, -7.0]])
    assert out.outputs[0].dtype == np.float32


def test_dense_any_rank_and_no_bias():
    x = np.arange(12, dtype=np.float64).reshape(1, 2, 3, 2)
    w = np.array([[1.0], [10.0]])
    out = run("Dense", dict(units=1, activation="linear", use_bias=False), x, [w])
    np.testing.assert_array_equal(out.outputs[0][..., 0], x[..., 0] + 10 * x[..., 1])
    assert out.outputs[0].dtype == np.float64 and out.pre_activation is None


def test_dense_unknown_activation_names_the_layer():
    with pytest.raises(UnsupportedLayer, match="'l'.*mystery"):
        run("Dense", dict(units=1, activation="mystery"), np.ones((1, 1)), [np.ones((1, 1)), np.zeros(1)])


def test_activation_layer():
    x = np.array([[-1.0, 2.0]], np.float32)
    y = run("Activation", dict(activation="relu"), x).outputs[0]
    np.testing.assert_array_equal(y, [[0.0, 2.0]])
    assert y.dtype == np.float32


@pytest.mark.parametrize("kind", [
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization",
])
def test_identity_at_inference(kind):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    assert run(kind, {}, x).outputs[0] is x
    assert kind in PASSES_MASK


def test_flatten_plain_and_channels_first():
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)  # (b, c=2, h=3, w=2) when channels_first
    np.testing.assert_array_equal(run("Flatten", {}, x).outputs[0], x.reshape(1, 12))
    cf = run("Flatten", dict(data_format="channels_first"), x).outputs[0]
    np.testing.assert_array_equal(cf, x.transpose(0, 2, 3, 1).reshape(1, 12))
    np.testing.assert_array_equal(cf[0, :4], [0, 6, 1, 7])
    np.testing.assert_array_equal(run("Flatten", dict(data_format="channels_first"), x[:, :, 0, 0]).outputs[0],
                                  x[:, :, 0, 0])


def test_reshape_permute_repeat():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert run("Reshape", dict(target_shape=(2, -1)), x).outputs[0].shape == (2, 2, 6)
    with pytest.raises(UnsupportedLayer):
        run("Reshape", dict(target_shape=(5,)), x)
    p = run("Permute", dict(dims=(2, 1)), x).outputs[0]
    np.testing.assert_array_equal(p, x.transpose(0, 2, 1))
    r = run("RepeatVector", dict(n=3), x[:, 0, :]).outputs[0]
    assert r.shape == (2, 3, 4)
    np.testing.assert_array_equal(r[:, 2], x[:, 0, :])


def test_masking_zeroes_and_masks_timesteps():
    x = np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]], np.float32)
    out = run("Masking", dict(mask_value=0.0), x)
    np.testing.assert_array_equal(out.outputs[0], x)
    np.testing.assert_array_equal(out.masks[0], [[True, False, True]])
    out = run("Masking", dict(mask_value=1.0), x)
    np.testing.assert_array_equal(out.outputs[0][0, 0], [1.0, 0.0])
    x2 = np.array([[[1.0, 1.0], [1.0, 5.0]]], np.float32)
    out = run("Masking", dict(mask_value=1.0), x2)
    np.testing.assert_array_equal(out.outputs[0], [[[0.0, 0.0], [1.0, 5.0]]])
    np.testing.assert_array_equal(out.masks[0], [[False, True]])


def test_embedding_gather_cast_and_mask_zero():
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    x = np.array([[0.0, 3.0, 1.9]], np.float32)  # 1.9 truncates to 1, as K.cast to int32 does
    out = run("Embedding", dict(input_dim=4, output_dim=2, mask_zero=True), x, [table])
    np.testing.assert_array_equal(out.outputs[0], [[[0, 1], [6, 7], [2, 3]]])
    np.testing.assert_array_equal(out.masks[0], [[False, True, True]])
    assert run("Embedding", dict(mask_zero=False), x, [table]).masks is None
    with pytest.raises(UnsupportedLayer, match="out of range"):
        run("Embedding", {}, np.array([[4.0]], np.float32), [table])


def test_rescaling_and_normalization():
    x = np.array([[0.0, 255.0]], np.float32)
    np.testing.assert_allclose(run("Rescaling", dict(scale=1 / 127.5, offset=-1.0), x).outputs[0], [[-1.0, 1.0]])
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    mean, var = np.array([2.0, 4.0], np.float32), np.array([4.0, 0.0], np.float32)
    y = run("Normalization", dict(axis=(-1,)), x, [mean, var, np.array(2)]).outputs[0]
    np.testing.assert_allclose(y, [[-0.5, -2e7], [0.5, 2e7]], rtol=1e-6)
    back = run("Normalization", dict(axis=(-1,), invert=True), y, [mean, var]).outputs[0]
    np.testing.assert_allclose(back, x, rtol=1e-6)
    cfg = run("Normalization", dict(axis=-1, mean=[2.0, 4.0], variance=[4.0, 1.0]), x).outputs[0]
    np.testing.assert_allclose(cfg, [[-0.5, -2.0], [0.5, 2.0]])


def test_normalization_broadcast_shape_weights_and_axis_1():
    x = np.arange(12, dtype=np.float64).reshape(1, 3, 4)
    mean = np.array([0.0, 4.0, 8.0]).reshape(1, 3, 1)  # tf.keras may store the broadcast shape
    y = run("Normalization", dict(axis=(1,)), x, [mean, np.ones((1, 3, 1))]).outputs[0]
    np.testing.assert_array_equal(y[0], np.tile(np.arange(4.0), (3, 1)))


def test_center_crop():
    x = np.arange(2 * 5 * 4 * 1, dtype=np.float32).reshape(2, 5, 4, 1)
    y = run("CenterCrop", dict(height=2, width=2), x).outputs[0]
    np.testing.assert_array_equal(y, x[:, 1:3, 1:3])
    with pytest.raises(UnsupportedLayer):
        run("CenterCrop", dict(height=6, width=2), x)


def test_highway_gate_mixes_transform_and_carry():
    x = np.array([[1.0, 2.0]])
    w = np.eye(2) * 3.0
    w_carry = np.zeros((2, 2))
    b, b_carry = np.array([0.0, -10.0]), np.array([0.0, 100.0])
    y = run("Highway", dict(activation="relu"), x, [w, w_carry, b, b_carry], sem=K1).outputs[0]
    # t = [0.5, 1]: y0 = 0.5*3 + 0.5*1; y1 = relu(6 - 10) = 0
    np.testing.assert_allclose(y, [[2.0, 0.0]], atol=1e-15)


def test_maxout_dense_max_over_features():
    x = np.array([[1.0, 2.0]], np.float32)
    w = np.stack([np.eye(2), -np.eye(2), np.ones((2, 2))]).astype(np.float32)  # (3, in=2, units=2)
    b = np.array([[0, 0], [10, 0], [0, -5]], np.float32)
    y = run("MaxoutDense", dict(nb_feature=3, units=2), x, [w, b], sem=K1).outputs[0]
    np.testing.assert_array_equal(y, [[9.0, 2.0]])
    assert y.dtype == np.float32


def test_einsum_dense_contracts_adds_the_broadcast_bias_and_keeps_dtype():
    """EinsumDense 'abc,cde->abde' with bias_axes 'de' (stored as (2, 3)) against an explicit loop."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    k = rng.normal(size=(4, 2, 3)).astype(np.float32)
    b = rng.normal(size=(2, 3)).astype(np.float32)
    y = run("EinsumDense", dict(equation="abc,cde->abde", bias_axes="de", activation="relu"), x, [k, b]).outputs[0]
    want = np.zeros((2, 3, 2, 3))
    for a in range(2):
        for i in range(3):
            want[a, i] = np.tensordot(x[a, i].astype(np.float64), k.astype(np.float64), axes=1) + b
    np.testing.assert_allclose(y, np.maximum(want, 0), rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32


def test_einsum_dense_elided_axes_equal_a_dense():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    k = np.arange(20, dtype=np.float64).reshape(4, 5) / 7
    got = run("EinsumDense", dict(equation="...b,bc->...c", bias_axes=None), x, [k]).outputs[0]
    want = run("Dense", dict(units=5, use_bias=False), x, [k]).outputs[0]
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("params, match", [
    (dict(equation="__import__('os')"), "equation"),
    (dict(equation=3), "equation"),
    (dict(equation="ab,bc->ac", lora_rank=4), "LoRA"),
])
def test_einsum_dense_refuses_what_it_cannot_read(params, match):
    with pytest.raises(UnsupportedLayer, match=match):
        run("EinsumDense", params, np.ones((1, 2)), [np.ones((2, 3))])
