"""Tests of kstep.engine.pooling: windowed pools against the loop reference, Theano's rules, global pools, masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kstep.engine import _reference as ref
from kstep.engine.base import Call
from kstep.engine.pooling import KERNELS
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

TF = Semantics("tf.keras", "2.15.0", "tensorflow")
THEANO = Semantics("keras2", "2.2.4", "theano")
THEANO_INC_PAD = Semantics("keras2", "2.1.0", "theano")
KERAS1_THEANO = Semantics("keras1", "1.2.2", "theano")
SETTINGS = settings(derandomize=True, max_examples=30, deadline=None)


def run(kind, params, x, sem=TF, mask=None):
    spec = LayerSpec(name="p", class_name=kind, kind=kind, params=params)
    call = Call(layer=spec, inputs=[x], weights=[], sem=sem, dtype=x.dtype, masks=[mask] if mask is not None else [])
    return KERNELS[kind](call)


def pool1d(kind, values, k, sem, strides=None, padding="same"):
    x = np.asarray(values, np.float32).reshape(1, -1, 1)
    params = dict(pool_size=(k,), strides=(strides or k,), padding=padding, data_format="channels_last")
    return run(kind, params, x, sem).outputs[0].ravel().tolist()


@st.composite
def pool_case(draw):
    nd = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = draw(st.sampled_from(["valid", "same"]))
    n = tuple(draw(st.integers(1, 8 if nd < 3 else 5)) for _ in range(nd))
    if padding == "valid":
        n = tuple(max(ni, ki) for ni, ki in zip(n, k))
    return dict(nd=nd, k=k, s=s, padding=padding, n=n, first=draw(st.booleans()),
                sem=draw(st.sampled_from(["tf", "theano", "theano_inc"])), seed=draw(st.integers(0, 2**16)))


@SETTINGS
@given(pool_case(), st.sampled_from(["max", "avg"]))
def test_pool_matches_reference(c, mode):
    """Max/AveragePoolingND (valid/same, TF/Theano/Theano-inc-pad, both formats) equals the loop reference."""
    sem = {"tf": TF, "theano": THEANO, "theano_inc": THEANO_INC_PAD}[c["sem"]]
    x = np.random.default_rng(c["seed"]).standard_normal((2, *c["n"], 3)).astype(np.float32)
    theano = c["sem"] != "tf"
    count_pad = c["sem"] == "theano_inc" and c["padding"] == "same"
    want = ref.pool(x, c["k"], c["s"], c["padding"], mode, theano, count_pad)
    fmt = "channels_first" if c["first"] else "channels_last"
    kind = {"max": "MaxPooling", "avg": "AveragePooling"}[mode] + f"{c['nd']}D"
    params = dict(pool_size=c["k"], strides=c["s"], padding=c["padding"], data_format=fmt)
    got = run(kind, params, np.moveaxis(x, -1, 1) if c["first"] else x, sem).outputs[0]
    if c["first"]:
        want = np.moveaxis(want, -1, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_maxpool_size2_same_theano_vs_tf():
    """keras#6936: MaxPooling1D(2, 'same') on [1, 2, 3, 4] gives [1, 3] on Theano and [2, 4] on TF."""
    assert pool1d("MaxPooling1D", [1, 2, 3, 4], 2, THEANO) == [1, 3]
    assert pool1d("MaxPooling1D", [1, 2, 3, 4], 2, KERAS1_THEANO) == [1, 3]
    assert pool1d("MaxPooling1D", [1, 2, 3, 4], 2, TF) == [2, 4]


def test_avgpool_theano_excludes_padding_except_keras_204_to_214():
    """AveragePooling1D(2, 'same') on [1, 2, 3, 4]: windows [pad, 1], [2, 3]; padding counted only in 2.0.4-2.1.4."""
    assert pool1d("AveragePooling1D", [1, 2, 3, 4], 2, THEANO) == [1, 2.5]
    assert pool1d("AveragePooling1D", [1, 2, 3, 4], 2, THEANO_INC_PAD) == [0.5, 2.5]
    assert pool1d("AveragePooling1D", [1, 2, 3, 4], 2, TF) == [1.5, 3.5]


def test_theano_pool5_sits_off_centre():
    """Pool 5, stride 1, 'same': Theano pads k-2 = 3 cells, so window j is [j-3, j+1]; TF centres it ([j-2, j+2])."""
    assert pool1d("MaxPooling1D", [1, 2, 3, 4, 5], 5, THEANO, strides=1) == [2, 3, 4, 5, 5]
    assert pool1d("MaxPooling1D", [1, 2, 3, 4, 5], 5, TF, strides=1) == [3, 4, 5, 5, 5]


def test_theano_pool3_equals_tf_at_stride1():
    """Pool 3 at stride 1 is the same on both backends (pad 1 both sides)."""
    v = [3, 1, 4, 1, 5, 9, 2]
    assert pool1d("MaxPooling1D", v, 3, THEANO, strides=1) == pool1d("MaxPooling1D", v, 3, TF, strides=1)
    assert pool1d("AveragePooling1D", v, 3, THEANO, strides=1) == pool1d("AveragePooling1D", v, 3, TF, strides=1)


def test_maxpool_all_negative_ignores_padding():
    """Padded cells never win a max, even when every real value is negative."""
    assert pool1d("MaxPooling1D", [-4, -3, -2], 2, TF) == [-3, -2]
    assert pool1d("MaxPooling1D", [-4, -3, -2], 2, THEANO) == [-4, -2]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools(nd, fmt, keepdims):
    """GlobalMax/AveragePoolingND reduce the spatial axes of either layout, keeping size-1 axes with keepdims."""
    x = np.random.default_rng(nd).standard_normal((2, *(4,) * nd, 3)).astype(np.float32)
    axes = tuple(range(1, 1 + nd))
    xin = np.moveaxis(x, -1, 1) if fmt == "channels_first" else x
    params = dict(data_format=fmt, keepdims=keepdims)
    for kind, fn in (("GlobalMaxPooling", np.max), ("GlobalAveragePooling", np.mean)):
        got = run(f"{kind}{nd}D", params, xin).outputs[0]
        want = fn(x.astype(np.float64), axis=axes, keepdims=keepdims)
        if keepdims and fmt == "channels_first":
            want = np.moveaxis(want, -1, 1)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_global_average_1d_with_mask_averages_unmasked_steps(fmt):
    """tf.keras GlobalAveragePooling1D with a (batch, time) mask: mean of the unmasked steps; the mask stops here."""
    x = np.arange(2 * 4 * 2, dtype=np.float32).reshape(2, 4, 2)
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    xin = np.moveaxis(x, -1, 1) if fmt == "channels_first" else x
    out = run("GlobalAveragePooling1D", dict(data_format=fmt, keepdims=False), xin, mask=mask)
    np.testing.assert_allclose(out.outputs[0], [x[0, :2].mean(0), x[1].mean(0)])
    assert out.masks == [None]


def test_global_average_over_zero_positions_is_nan_without_a_warning():
    """GlobalAveragePooling2D over a 0x0 map: NaN per channel (TensorFlow's reduce_mean of nothing), no numpy
    'Mean of empty slice' warning on stderr."""
    import warnings

    x = np.zeros((2, 0, 0, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run("GlobalAveragePooling2D", {"data_format": "channels_last"}, x).outputs[0]
    assert out.shape == (2, 3) and np.isnan(out).all() and out.dtype == np.float32
