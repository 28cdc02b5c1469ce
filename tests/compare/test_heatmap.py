"""The first divergence's heatmaps (kstep/compare/heatmap.py): which plane of which channel, downsampling, NaN, and
on the demo pair (Keras 1.2.2 vs tf.keras) the worst channel and sample the row's own statistics name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kstep.analysis import FirstDivergence, Reason
from kstep.compare.heatmap import MAX_CELLS, first_heatmaps, heatmaps
from tests.compare.test_many_samples import DEMO, run, samples_like

RNG = np.random.default_rng(5)


def _pair(shape, spot, delta=3.0):
    old = RNG.normal(size=shape).astype(np.float32)
    new = old + RNG.normal(scale=1e-3, size=shape).astype(np.float32)
    new[spot] += delta
    return old, new


@pytest.mark.parametrize("shape, axis, spot, channel, plane", [
    ((1, 5, 6, 3), -1, (0, 1, 4, 2), 2, (slice(None), slice(None), 2)),  # channels_last image
    ((1, 3, 5, 6), 1, (0, 2, 1, 4), 2, (2, slice(None), slice(None))),  # channels_first image
])
def test_image_worst_channel_plane(shape, axis, spot, channel, plane):
    """An image: the channel holding the largest |Δ|, its whole H x W plane, not downsampled."""
    old, new = _pair(shape, spot)
    m = heatmaps(old, new, axis, 4, "conv", 7)
    assert m is not None
    assert (m.channel, m.sample, m.row, m.layer) == (channel, 7, 4, "conv")
    assert (m.shape, m.step, m.fixed) == ((5, 6), (1, 1), ())
    np.testing.assert_allclose(np.array(m.old), old[0][plane], rtol=1e-6)
    np.testing.assert_allclose(np.array(m.new), new[0][plane], rtol=1e-6)
    d = np.array(m.delta)
    assert np.unravel_index(d.argmax(), d.shape) == (1, 4)
    assert m.delta_max == pytest.approx(d.max()) and m.delta_max > 2.9
    assert m.lo == pytest.approx(min(old[0][plane].min(), new[0][plane].min()))


def test_vector_is_one_row_without_channel():
    """A Dense output (N, F): its F units as one row; a vector has no channel to pick."""
    old, new = _pair((1, 10), (0, 6))
    m = heatmaps(old, new, -1, 0, "fc", 0)
    assert m is not None and m.channel is None and m.shape == (1, 10) and len(m.old) == 1
    assert int(np.argmax(m.delta[0])) == 6


def test_sequence_is_the_worst_channel_along_time():
    old, new = _pair((1, 7, 4), (0, 5, 1))
    m = heatmaps(old, new, -1, 0, "conv1d", 0)
    assert m is not None and m.channel == 1 and m.shape == (1, 7)
    np.testing.assert_allclose(m.old[0], old[0, :, 1], rtol=1e-6)


def test_volume_takes_the_plane_through_the_worst_element():
    old, new = _pair((1, 4, 5, 6, 2), (0, 2, 3, 1, 1))
    m = heatmaps(old, new, -1, 0, "conv3d", 0)
    assert m is not None and (m.channel, m.fixed, m.shape) == (1, (2,), (5, 6))
    np.testing.assert_allclose(np.array(m.old), old[0, 2, :, :, 1], rtol=1e-6)


def test_large_plane_is_downsampled_mean_and_max():
    """130 x 70 -> blocks of 3 x 2 (44 x 35 cells, the last ones partial): OLD/NEW block means, |Δ| block maxima,
    so one differing element still shows."""
    old, new = _pair((1, 130, 70, 1), (0, 129, 69, 0), delta=50.0)
    m = heatmaps(old, new, -1, 0, "big", 0)
    assert m is not None and m.step == (3, 2) and (len(m.old), len(m.old[0])) == (44, 35)
    assert max(len(m.old), len(m.old[0])) <= MAX_CELLS
    o = old[0, :, :, 0].astype(np.float64)
    assert m.old[0][0] == pytest.approx(o[0:3, 0:2].mean())
    assert m.old[43][34] == pytest.approx(o[129:130, 68:70].mean())  # a partial block: its real elements only
    d = np.abs(new[0, :, :, 0].astype(np.float64) - o)
    assert m.delta[10][7] == pytest.approx(d[30:33, 14:16].max())
    assert m.delta[43][34] == pytest.approx(50.0, rel=1e-3) == m.delta_max


def test_nan_on_one_side_is_kept_and_left_out_of_the_scales():
    old, new = _pair((1, 4, 4, 2), (0, 0, 0, 0), delta=0.0)
    new[0, 2, 3, 1] = np.nan
    m = heatmaps(old, new, -1, 0, "x", 0)
    assert m is not None and m.channel == 1  # NaN against a number counts as an infinite |Δ|
    assert math.isnan(m.new[2][3]) and math.isinf(m.delta[2][3])
    assert math.isfinite(m.lo) and math.isfinite(m.hi) and math.isfinite(m.delta_max)


def test_shapes_differ_or_empty_no_maps():
    assert heatmaps(np.zeros((1, 3, 3, 2)), np.zeros((1, 3, 3, 3)), -1, 0, "x", 0) is None
    assert heatmaps(np.zeros((1, 0, 3, 2)), np.zeros((1, 0, 3, 2)), -1, 0, "x", 0) is None


def test_no_maps_for_an_unsupported_or_architecture_divergence():
    for reason in (Reason.UNSUPPORTED, Reason.ARCHITECTURE, Reason.SHAPE):
        first = FirstDivergence(0, "a", "a", reason, None, sample=0)
        assert first_heatmaps(first, [], [], (None, None), 0, None) is None  # type: ignore[arg-type]


def _check_demo(a):
    """The maps are of the row's first divergence, on its sample, in the channel its worst element is in."""
    first, m = a.first_divergence, a.heatmaps
    assert first is not None and m is not None
    row = a.rows[first.row]
    assert (m.row, m.layer, m.sample) == (first.row, row.name, first.sample)
    worst = row.propagated.worst_index
    assert m.channel == worst[1]  # OLD is Theano channels_first: (N, C, H, W)
    assert m.shape == tuple(row.propagated.shape_old[2:]) and m.step == (1, 1)
    if worst[0] == first.sample:  # the sample holding the row's worst element: the same element, the same |Δ|
        d = np.array(m.delta)
        assert np.unravel_index(d.argmax(), d.shape) == tuple(worst[2:])
        assert m.delta_max == pytest.approx(row.propagated.max_abs, rel=1e-6)


def test_demo_pair_maps_the_worst_channel():
    """Two samples, both kept: the maps come from the kept runs."""
    a = run(DEMO / "old.h5", DEMO / "new.h5", DEMO / "ref.npy", DEMO / "ref_new.npy")
    _check_demo(a)
    assert a.heatmaps is not None and a.heatmaps.sample == 0


def test_demo_pair_maps_in_chunks(tmp_path):
    """Ten samples in chunks of 3 (only the first kept, the diagnosis' one-sample runs reused): still the maps."""
    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 10))
    _check_demo(run(DEMO / "old.h5", DEMO / "new.h5", ref, chunk=3))


def test_maps_from_the_diagnosis_runs_when_nothing_is_kept():
    """Without the first chunk's runs, the one-sample runs the diagnosis made give the same maps (nothing re-run)."""
    from kstep.compare.analyze import Comparison

    c = Comparison(str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), str(DEMO / "ref_new.npy"))
    try:
        for _ in c.run():
            pass
        a = c.analysis()
        assert c.focus.cached(0) is not None
        again = first_heatmaps(a.first_divergence, a.rows, c.pairs, (None, None), c.inputs.first, c.focus)
        assert again == a.heatmaps
        c.focus.clear()
        assert first_heatmaps(a.first_divergence, a.rows, c.pairs, (None, None), c.inputs.first, c.focus) is None
    finally:
        c.close()
