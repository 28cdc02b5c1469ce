"""Tests of kstep.engine.spatial: UpSampling (nearest, bilinear per backend), ZeroPadding and Cropping."""

from __future__ import annotations

import numpy as np
import pytest

from kstep.engine.base import Call
from kstep.engine.spatial import KERNELS
from kstep.errors import UnsupportedLayer
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

TF = Semantics("tf.keras", "2.15.0", "tensorflow")
KERAS2_TF = Semantics("keras2", "2.2.4", "tensorflow")
THEANO = Semantics("keras2", "2.2.4", "theano")


def run(kind, params, x, sem=TF):
    spec = LayerSpec(name="s", class_name=kind, kind=kind, params=params)
    return KERNELS[kind](Call(layer=spec, inputs=[x], weights=[], sem=sem, dtype=x.dtype)).outputs[0]


def grid(*shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_nearest_upsampling_repeats_each_axis(nd, fmt):
    """UpSamplingND 'nearest' repeats spatial axis i size[i] times, in either layout."""
    x = grid(2, *range(2, 2 + nd), 3)
    size = tuple(range(2, 2 + nd))
    want = x
    for i, f in enumerate(size):
        want = np.repeat(want, f, axis=1 + i)
    xin = np.moveaxis(x, -1, 1) if fmt == "channels_first" else x
    got = run(f"UpSampling{nd}D", dict(size=size, data_format=fmt, interpolation="nearest"), xin)
    np.testing.assert_array_equal(got, np.moveaxis(want, -1, 1) if fmt == "channels_first" else want)


def bilinear_row(values, factor, sem):
    x = np.asarray(values, np.float32).reshape(1, 1, -1, 1)
    return run("UpSampling2D", dict(size=(1, factor), data_format="channels_last", interpolation="bilinear"), x,
               sem).ravel().tolist()


def test_bilinear_half_pixel_in_tf_keras_and_theano():
    """tf.image.resize (tf.keras 2, Keras 3) and Theano's bilinear_upsampling sample at (j + 0.5)/f - 0.5, clamped."""
    assert bilinear_row([0, 1], 2, TF) == [0, 0.25, 0.75, 1]
    assert bilinear_row([0, 1], 2, THEANO) == [0, 0.25, 0.75, 1]
    assert bilinear_row([0, 4, 8], 2, Semantics("keras3", "3.4.0", "jax")) == [0, 1, 3, 5, 7, 8]


def test_bilinear_legacy_in_standalone_keras2_on_tf():
    """Keras 2.2.4 on TF calls tf.image.resize_bilinear (no half-pixel): src = j / f, clamped at the end."""
    assert bilinear_row([0, 1], 2, KERAS2_TF) == [0, 0.5, 1, 1]


def test_bilinear_2d_is_separable_and_keeps_dtype():
    """Bilinear 2D interpolates rows and columns; a constant image stays constant; float32 stays float32."""
    x = np.full((1, 3, 4, 2), 7, np.float32)
    got = run("UpSampling2D", dict(size=(2, 3), data_format="channels_last", interpolation="bilinear"), x)
    assert got.shape == (1, 6, 12, 2) and got.dtype == np.float32
    np.testing.assert_array_equal(got, 7)


def test_unknown_interpolation_is_unsupported():
    """An interpolation kstep does not implement is reported, not guessed."""
    with pytest.raises(UnsupportedLayer):
        run("UpSampling2D", dict(size=(2, 2), data_format="channels_last", interpolation="bicubic"), grid(1, 2, 2, 1))


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_zero_padding_and_cropping_invert_each_other(nd, fmt):
    """ZeroPaddingND adds (before, after) zeros per axis; CroppingND with the same pairs gives the input back."""
    x = grid(2, *range(2, 2 + nd), 3) + 1
    pairs = tuple((i, i + 1) for i in range(nd))
    xin = np.moveaxis(x, -1, 1) if fmt == "channels_first" else x
    padded = run(f"ZeroPadding{nd}D", dict(padding=pairs, data_format=fmt), xin)
    lead = 2 if fmt == "channels_first" else 1
    assert padded.shape[lead:lead + nd] == tuple(n + 2 * i + 1 for i, n in enumerate(range(2, 2 + nd)))
    assert padded.sum() == x.sum()
    back = run(f"Cropping{nd}D", dict(cropping=pairs, data_format=fmt), padded)
    np.testing.assert_array_equal(back, xin)


def test_cropping_1d_values():
    """Cropping1D((1, 2)) keeps cells 1 .. n-3."""
    x = grid(1, 6, 1)
    got = run("Cropping1D", dict(cropping=((1, 2),), data_format="channels_last"), x)
    assert got.ravel().tolist() == [1, 2, 3]
