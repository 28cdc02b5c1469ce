"""sample_errors and StatsAccumulator against metrics.compare_arrays, sample by sample: the per-sample vectors must
give each sample's own statistics, and folding chunks must give the statistics of the whole set."""

import numpy as np
import pytest

from kstep.analysis import Tolerance
from kstep.compare import sample_errors as se
from kstep.compare.metrics import compare_arrays

TOL = Tolerance(1e-5, 1e-4)
RNG = np.random.default_rng(3)


def _pair(shape, nonfinite=False):
    old = RNG.normal(size=shape).astype(np.float32)
    new = (old + RNG.normal(scale=1e-3, size=shape) * (RNG.random(shape) < 0.01)).astype(np.float32)
    if nonfinite:
        old.reshape(shape[0], -1)[1, 3] = np.nan
        new.reshape(shape[0], -1)[1, 3] = np.nan  # the same NaN: matches
        new.reshape(shape[0], -1)[2, 5] = np.inf  # inf vs a number: fails
        old.reshape(shape[0], -1)[0, 7] = new.reshape(shape[0], -1)[0, 7] = -np.inf  # the same inf: matches
    return old, new


@pytest.mark.parametrize("shape", [(5, 9), (3, 4, 6, 6), (4, se.BLOCK + 123), (600, 700)])
@pytest.mark.parametrize("nonfinite", [False, True])
def test_each_sample_matches_compare_arrays(shape, nonfinite):
    old, new = _pair(shape, nonfinite)
    errs = se.sample_errors(old, new, TOL.rtol)
    passed = errs.passed(TOL)
    for s in range(shape[0]):
        ref = compare_arrays(old[s], new[s], TOL)
        assert passed[s] == ref.passed
        assert errs.max_abs[s] == pytest.approx(ref.max_abs, rel=1e-6, abs=1e-12)
        if np.isfinite(ref.excess):
            assert errs.excess[s] == pytest.approx(ref.excess, rel=1e-5, abs=1e-9)
        assert errs.max_rel[s] == pytest.approx(ref.max_rel, rel=1e-5, abs=1e-12)
        if ref.max_abs > 0 and np.isfinite(ref.max_abs):
            assert np.unravel_index(int(errs.worst[s]), shape[1:]) == ref.worst_index


@pytest.mark.parametrize("nonfinite", [False, True])
def test_folded_chunks_give_the_whole_set(nonfinite):
    """Chunks of 3, 1 and 4 samples folded give the statistics of compare_arrays over all 8 at once."""
    old, new = _pair((8, 5, 9), nonfinite)
    acc = se.StatsAccumulator((5, 9))
    for a, b in ((0, 3), (3, 4), (4, 8)):
        acc.add(se.sample_errors(old[a:b], new[a:b], TOL.rtol), np.arange(a, b), TOL)
    got, ref = acc.stats(TOL), compare_arrays(old, new, TOL)
    assert got.passed == ref.passed and got.samples == 8 and got.shape_old == ref.shape_old
    assert got.max_abs == pytest.approx(ref.max_abs) and got.worst_index == ref.worst_index
    if np.isfinite(ref.mean_abs):
        assert got.mean_abs == pytest.approx(ref.mean_abs, rel=1e-5)
    assert got.nan_mismatch == ref.nan_mismatch
    assert got.samples_beyond == sum(not compare_arrays(old[s], new[s], TOL).passed for s in range(8))
    if nonfinite:
        assert (got.nan_old, got.nan_new, got.inf_old, got.inf_new) == (1, 1, 1, 2)
