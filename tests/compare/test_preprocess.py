"""The closed set of input transforms: parsed, never evaluated."""

import numpy as np
import pytest

from kstep.compare.preprocess import parse
from kstep.errors import UsageError


def test_parse_and_apply():
    x = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    assert str(parse("scale:1/255")) == "scale:1/255"
    np.testing.assert_allclose(parse("scale:1/255").apply(x, False), x / 255, rtol=1e-6)
    np.testing.assert_array_equal(parse("bgr").apply(x, False), x[..., ::-1])
    np.testing.assert_array_equal(parse("bgr").apply(x, True), x[:, ::-1])
    assert parse("transpose:0,3,1,2").apply(x, False).shape == (2, 3, 2, 2)
    np.testing.assert_allclose(parse("mean:1,2,3").apply(x, False), x - np.array([1, 2, 3], np.float32))


@pytest.mark.parametrize("bad", ["eval:1", "scale:__import__('os')", "scale:", "transpose:0,0", "bgr:1",
                                 "mean:a,b", "scale:1/0"])
def test_refused(bad):
    with pytest.raises(UsageError):
        parse(bad)


@pytest.mark.parametrize("bad", ["caffe:1", "undo", "undo:vgg", "std:0", "std:1,0,2", "tf:x"])
def test_presets_refused(bad):
    with pytest.raises(UsageError):
        parse(bad)


@pytest.mark.parametrize("spec", ["caffe", "tf", "torch", "undo:caffe", "std:0.229,0.224,0.225", "mean:1"])
def test_round_trip(spec):
    """str(parse(s)) is the spelling the report prints and --pre-new takes back."""
    assert str(parse(spec)) == spec and parse(str(parse(spec))) == parse(spec)


def test_uint8_is_cast_before_arithmetic():
    """scale and mean on uint8 work in float32: no zeros, no wrap-around; bgr / transpose keep the dtype."""
    x = np.array([[0, 100, 255]], np.uint8)
    np.testing.assert_allclose(parse("scale:1/255").apply(x, False), [[0, 100 / 255, 1]], rtol=1e-6)
    np.testing.assert_array_equal(parse("mean:200").apply(x, False), np.array([[-200, -100, 55]], np.float32))
    assert parse("scale:2").apply(x, False).dtype == np.float32
    assert parse("bgr").apply(x, False).dtype == np.uint8
    assert parse("std:2").apply(np.ones((1, 3)), False).dtype == np.float64  # a float input keeps its dtype


def test_preset_needs_three_channels():
    with pytest.raises(UsageError):
        parse("caffe").apply(np.zeros((1, 2, 2, 4), np.float32), False)
    assert parse("tf").apply(np.full((1, 4), 255, np.uint8), False).tolist() == [[1.0] * 4]
