"""Layout mapping between models: NCHW <-> NHWC, and flatten(c,h,w) <-> flatten(h,w,c)."""

import numpy as np

from kstep.compare.layout import Tag, dense_rows_to_old, image, to_new, to_old


def test_image_roundtrip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # NCHW
    old, new = image("channels_first"), image("channels_last")
    y = to_new(x, old, new)
    assert y.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(to_old(y, old, new), x)


def test_flat_order_matches_flatten_of_transposed_map():
    """flatten(chw) of a map equals the flatten(hwc) of the same map mapped by to_old."""
    fmap = np.random.default_rng(0).normal(size=(2, 3, 4, 5))  # N C H W
    chw = fmap.reshape(2, -1)
    hwc = fmap.transpose(0, 2, 3, 1).reshape(2, -1)
    old = Tag("flat", order="chw", spatial=(4, 5), channels=3)
    new = Tag("flat", order="hwc", spatial=(4, 5), channels=3)
    np.testing.assert_array_equal(to_old(hwc, old, new), chw)
    np.testing.assert_array_equal(to_new(chw, old, new), hwc)


def test_dense_rows_follow_the_flatten_order():
    """A Dense reading hwc with rows mapped to chw gives the same output on the chw vector."""
    rng = np.random.default_rng(1)
    fmap = rng.normal(size=(2, 3, 4, 5))
    chw = fmap.reshape(2, -1)
    hwc = fmap.transpose(0, 2, 3, 1).reshape(2, -1)
    k_new = rng.normal(size=(60, 7))
    old = Tag("flat", order="chw", spatial=(4, 5), channels=3)
    new = Tag("flat", order="hwc", spatial=(4, 5), channels=3)
    np.testing.assert_allclose(chw @ dense_rows_to_old(k_new, old, new), hwc @ k_new, rtol=1e-12)
