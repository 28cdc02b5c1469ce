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
