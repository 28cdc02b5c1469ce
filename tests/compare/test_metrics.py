"""One tolerance definition, numeric edges: NaN, inf, zeros, shape mismatch, per-element rtol."""

import numpy as np
import pytest

from kstep.analysis import Tolerance
from kstep.compare.metrics import CHUNK, _compare, compare_arrays, max_abs

TOL = Tolerance(1e-5, 1e-4)


@pytest.mark.parametrize("old,new,passed", [
    ([1.0, 2.0], [1.0, 2.0], True),
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], True),
    ([1000.0], [1000.05], True),          # rtol * |old| = 0.1
    ([1000.0], [1000.2], False),
    ([0.0], [2e-5], False),               # atol only near zero
    ([np.nan, 1.0], [np.nan, 1.0], True),  # NaN at the same positions matches
    ([np.nan, 1.0], [0.0, 1.0], False),   # NaN on one side never passes
    ([1.0, 1.0], [np.nan, 1.0], False),
    ([np.inf], [np.inf], True),
    ([np.inf], [-np.inf], False),
    ([1.0], [np.inf], False),
    ([], [], True),
])
def test_edges(old, new, passed):
    """NaN never passes unless both sides have it at the same place; inf only equals the same inf."""
    s = compare_arrays(np.array(old, np.float32), np.array(new, np.float32), TOL)
    assert s.passed is passed
    assert bool(s) is passed


def test_shape_mismatch_fails():
    s = compare_arrays(np.zeros((2, 3)), np.zeros((3, 2)), TOL)
    assert not s and s.max_abs == float("inf") and s.shape_old == (2, 3) and s.shape_new == (3, 2)


def test_worst_element_and_relative_floor():
    """The worst element is reported with both values; max_rel uses a floor of 1 on |old|."""
    old = np.array([[0.0, 10.0], [0.001, 5.0]], np.float32)
    new = np.array([[0.0, 10.5], [0.002, 5.0]], np.float32)
    s = compare_arrays(old, new, TOL)
    assert s.worst_index == (0, 1) and s.worst_old == 10.0 and s.worst_new == 10.5
    assert s.max_rel == pytest.approx(0.05)
    assert "beyond" in str(s)


def test_float32_values_are_compared_in_float64():
    """Subtraction happens in float64: a float32 difference of one ulp at 1e8 is not lost."""
    old = np.array([1e8], np.float32)
    new = np.nextafter(old, np.float32(2e8))
    s = compare_arrays(old, new, Tolerance(0.0, 0.0))
    assert s.max_abs == 8.0 and not s.passed


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, 2 * CHUNK + 7])
@pytest.mark.parametrize("case", ["noise", "equal", "scaled", "one_bad"])
def test_blockwise_statistics_equal_the_whole_array_ones(size, case):
    """The fast path (finite values, block by block, equality shortcut) gives the statistics of the general path
    (whole float64 arrays), the worst element included, across block boundaries."""
    rng = np.random.default_rng(size)
    old = rng.standard_normal((size,)).astype(np.float32).reshape(-1, 1)
    new = {"noise": old + np.float32(1e-5) * rng.standard_normal(old.shape).astype(np.float32),
           "equal": old.copy(), "scaled": old * np.float32(1.5), "one_bad": old.copy()}[case]
    if case == "one_bad":
        new[size - 1, 0] += 3.0  # in the last block
    fast = compare_arrays(old, new, TOL)
    slow = _compare(old.astype(np.float64), new.astype(np.float64), TOL, old.shape, new.shape)
    for field in ("max_abs", "max_rel", "worst_index", "worst_old", "worst_new", "passed", "excess"):
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.mean_abs == pytest.approx(slow.mean_abs, rel=1e-12, abs=1e-300)


def test_max_abs_sees_nan_and_inf_in_any_block():
    a = np.zeros(3 * CHUNK, np.float32)
    for bad, expected in ((np.nan, float("inf")), (np.inf, float("inf")), (0.5, 0.5)):
        b = a.copy()
        b[2 * CHUNK + 3] = bad
        assert max_abs(a, b) == expected
    c = a.copy()
    c[CHUNK + 1] = np.nan
    assert max_abs(c, c.copy()) == 0.0  # NaN at the same place on both sides
