"""Numbers that must never say "agree" (issue 12): a differing inf/NaN pattern fails under any tolerance, an
unmeasurable (non-finite) float32 noise falls back to the default atol with a note, and zero-size arrays compare as
0 elements. Unit tests on arrays; the end-to-end ones are in test_nonfinite_cli.py."""

import math

import numpy as np
import pytest

from kstep.analysis import Status, Tolerance, ToleranceOrigin
from kstep.compare.align import Item
from kstep.compare.judge import NO_ELEMENTS, Computed, RowInput, judge_row
from kstep.compare.layout import PLAIN
from kstep.compare.metrics import compare_arrays, max_abs, worst
from kstep.compare.tolerance import NOISE_UNMEASURABLE, is_noise_only, noise_unmeasurable, row_tolerance
from kstep.ir import LayerSpec
from kstep.options import MIN_ATOL, CompareOptions
from kstep.semantics import Semantics

INF, NAN = math.inf, math.nan
SEM = Semantics("tf.keras", "2.15.0", "tensorflow")
ITEM = Item("d", "d", "Dense")

# (OLD, NEW): the same finite values around one differing non-finite position
MISMATCHED = {
    "nan_old": ([NAN, 1.0], [0.0, 1.0]),
    "nan_new": ([0.0, 1.0], [NAN, 1.0]),
    "nan_vs_inf": ([NAN, 1.0], [INF, 1.0]),
    "inf_vs_nan": ([INF, 1.0], [NAN, 1.0]),
    "pinf_vs_ninf": ([INF, 1.0], [-INF, 1.0]),
    "ninf_vs_pinf": ([-INF, 1.0], [INF, 1.0]),
    "inf_vs_finite": ([INF, 1.0], [0.0, 1.0]),
    "finite_vs_ninf": ([0.0, 1.0], [-INF, 1.0]),
    "issue_example": ([INF, -INF], [INF, 0.0]),
}
MATCHED = {
    "same_pinf": ([INF, 1.0], [INF, 1.0]),
    "same_ninf": ([-INF, 1.0], [-INF, 1.0]),
    "both_nan": ([NAN, 1.0], [NAN, 1.0]),
    "mixed": ([NAN, INF, -INF, 2.0], [NAN, INF, -INF, 2.0]),
}
TOLERANCES = [Tolerance(MIN_ATOL, 1e-4), Tolerance(1e300, 1e-4), Tolerance(INF, 1e-4), Tolerance(INF, 0.0),
              Tolerance(1e300, 1e300)]


@pytest.mark.parametrize("tol", TOLERANCES, ids=lambda t: f"atol{t.atol:g}-rtol{t.rtol:g}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MISMATCHED)
def test_differing_nonfinite_pattern_never_passes(case, dtype, tol):
    """NaN on either side, +inf vs -inf, inf vs a number: a divergence whatever the atol, an infinite one included."""
    old, new = (np.array(x, dtype) for x in MISMATCHED[case])
    s = compare_arrays(old, new, tol)
    assert not s.passed and not bool(s)
    assert s.max_abs == INF
    assert max_abs(old, new) == INF


@pytest.mark.parametrize("tol", TOLERANCES[:3], ids=lambda t: f"atol{t.atol:g}")
@pytest.mark.parametrize("case", MATCHED)
def test_same_nonfinite_pattern_agrees(case, tol):
    """The same inf (or NaN) at the same place on both sides agrees, and measures no noise."""
    old, new = (np.array(x, np.float32) for x in MATCHED[case])
    s = compare_arrays(old, new, tol)
    assert s.passed and s.max_abs == 0.0 and s.nan_mismatch == 0
    assert max_abs(old, new) == 0.0


def test_worst_of_several_outputs_keeps_the_nonfinite_failure():
    """Of two outputs, the one with a differing inf pattern is the worst even when the other differs more in finite
    values (failing before passing), under an infinite atol too."""
    a, b = np.array([INF, 0.0]), np.array([-INF, 0.0])
    big_old, big_new = np.array([0.0]), np.array([1e30])
    found = worst([big_old, a], [big_new, b], Tolerance(INF, 0.0))
    assert found is not None and not found.passed and found.worst_old == INF and found.worst_new == -INF


def test_max_abs_same_inf_in_a_later_block_is_zero_noise():
    """The float64 and float32 runs overflowing to the same inf: no noise there (it was inf before)."""
    a = np.zeros(70_000, np.float32)
    a[65_000] = np.inf
    assert max_abs(a, a.astype(np.float64)) == 0.0
    b = a.astype(np.float64)
    b[65_000] = 3.0e38  # float64 finite where float32 overflowed
    assert max_abs(b, a) == INF


@pytest.mark.parametrize("noise", [INF, -INF, NAN])
def test_nonfinite_noise_falls_back_to_the_default_atol(noise):
    """A noise floor that is not finite cannot widen atol: the default MIN_ATOL applies, and it is flagged."""
    t = row_tolerance(CompareOptions(), ["d"], noise)
    assert t.atol == MIN_ATOL and t.origin is ToleranceOrigin.DEFAULT and noise_unmeasurable(t)
    assert "not measurable" in t.source
    assert not is_noise_only(t, MIN_ATOL)


def test_finite_noise_and_user_tolerances_are_unchanged():
    """Measured noise still widens the default atol; --atol and --tolerance ignore the noise and are never
    flagged as unmeasurable."""
    t = row_tolerance(CompareOptions(), ["d"], 1e-3)
    assert t.atol == pytest.approx(1e-2) and not noise_unmeasurable(t)
    assert t.source == "default: max(1e-5, 10x float32 noise)"
    user = row_tolerance(CompareOptions(atol=0.5), ["d"], INF)
    assert user.atol == 0.5 and not noise_unmeasurable(user)
    per = row_tolerance(CompareOptions(per_layer={"d": (0.1, 0.0)}), ["d"], INF)
    assert per.atol == 0.1 and not noise_unmeasurable(per)


def side(out: np.ndarray) -> Computed:
    return Computed("d", LayerSpec("d", "Dense", "Dense", {}, []), SEM, (out,), (PLAIN,), PLAIN, 2)


def judge(old, new, isolated, noise):
    return judge_row(RowInput(0, ITEM, ITEM, side(old), side(new), row_tolerance(CompareOptions(), ["d"], noise),
                              isolated))


def test_issue_example_row_diverges_under_an_infinite_noise():
    """OLD [inf, -inf], NEW [inf, 0] with the float32 noise measured as inf: a divergence, not 'noise', with
    the note on the noise."""
    old = np.array([[INF, -INF]], np.float32)
    new = np.array([[INF, 0.0]], np.float32)
    row = judge(old, new, [new], INF)
    assert row.status is Status.DIVERGE
    assert not row.propagated.passed and row.propagated.tolerance.atol == MIN_ATOL
    assert row.note == NOISE_UNMEASURABLE


def test_agreeing_row_with_unmeasurable_noise_says_so():
    """Outputs that agree (the same inf) while the noise could not be measured: AGREE under MIN_ATOL, noted."""
    old = np.array([[INF, 1.0]], np.float32)
    row = judge(old, old.copy(), [old.copy()], INF)
    assert row.status is Status.AGREE and row.note == NOISE_UNMEASURABLE


def test_finite_noise_row_has_no_note():
    x = np.ones((1, 2), np.float32)
    row = judge(x, x + np.float32(5e-4), [x + np.float32(5e-4)], 1e-4)
    assert row.status is Status.NOISE and row.note == ""


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (1, 0, 4)])
def test_zero_size_arrays_compare_as_nothing(shape):
    """Zero-size arrays of the same shape: a pass with no worst element, no noise; a different zero-size shape
    fails."""
    a = np.zeros(shape, np.float32)
    s = compare_arrays(a, a.copy(), Tolerance(MIN_ATOL, 1e-4))
    assert s.passed and s.max_abs == 0.0 and s.worst_index is None and s.shape_old == shape
    assert max_abs(a, a.copy()) == 0.0
    other = np.zeros(shape[:-1] + (shape[-1] + 1,), np.float32)
    assert not compare_arrays(a, other, Tolerance(INF, 0.0)).passed


def test_zero_unit_layer_row_says_it_compared_nothing():
    """A 0-unit layer on both sides: AGREE with the note that there were 0 elements; a mismatch against a 1-unit
    layer is a shape MISMATCH."""
    empty = np.zeros((2, 0), np.float32)
    row = judge(empty, empty.copy(), [empty.copy()], 0.0)
    assert row.status is Status.AGREE and row.note == NO_ELEMENTS
    row = judge(empty, np.zeros((2, 1), np.float32), [np.zeros((2, 1), np.float32)], 0.0)
    assert row.status is Status.MISMATCH and NO_ELEMENTS not in row.note
