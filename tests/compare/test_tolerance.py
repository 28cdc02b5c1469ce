"""The tolerance policy as pure functions, and the typed values the comparison branches on (rendered words)."""

import pytest

from kstep.analysis import (
    GLYPHS,
    STATUSES,
    Reason,
    Status,
    Tolerance,
    ToleranceOrigin,
    VerdictKind,
    WeightTransform,
    WeightVerdict,
)
from kstep.compare.tolerance import input_tolerance, is_noise_only, row_tolerance, shown_tolerance, weight_tolerance
from kstep.options import MIN_ATOL, NOISE_FACTOR, CompareOptions


def test_per_layer_beats_atol_beats_default():
    opts = CompareOptions(atol=1e-3, rtol=1e-3, per_layer={"conv1": (0.1, 0.2)})
    t = row_tolerance(opts, ["x", "conv1"], 1e-4)
    assert (t.atol, t.rtol, t.source, t.origin) == (0.1, 0.2, "--tolerance conv1", ToleranceOrigin.PER_LAYER)
    t = row_tolerance(opts, ["x"], 1e-4)
    assert (t.atol, t.rtol, t.source, t.noise_floor, t.origin) == (1e-3, 1e-3, "--atol", 1e-4, ToleranceOrigin.USER)
    t = row_tolerance(CompareOptions(), ["x"], 1e-4)
    assert t.atol == NOISE_FACTOR * 1e-4 and t.origin is ToleranceOrigin.DEFAULT and t.noise_floor == 1e-4
    assert row_tolerance(CompareOptions(), ["x"], 0.0).atol == MIN_ATOL


def test_weight_tolerance_ignores_the_noise():
    user = row_tolerance(CompareOptions(atol=1e-3), ["x"], 1e-2)
    assert weight_tolerance(user) == Tolerance(1e-3, user.rtol, "--atol", origin=ToleranceOrigin.USER)
    default = row_tolerance(CompareOptions(), ["x"], 1e-2)
    w = weight_tolerance(default)
    assert (w.atol, w.origin, w.source) == (MIN_ATOL, ToleranceOrigin.WEIGHTS, "default for weights")


def test_shown_and_input_tolerance():
    assert shown_tolerance(0.5, 1e-3).user_given and shown_tolerance(0.5, 1e-3).source == "--atol/--rtol"
    assert not shown_tolerance(None, 1e-4).user_given
    assert input_tolerance(1e-3) == Tolerance(MIN_ATOL, 1e-3)


def test_noise_only_needs_the_default_rule():
    default = row_tolerance(CompareOptions(), ["x"], 1e-4)
    assert is_noise_only(default, 5e-4) and not is_noise_only(default, 5e-6)
    assert not is_noise_only(row_tolerance(CompareOptions(atol=1e-3), ["x"], 1e-4), 5e-4)


def test_tolerance_keeps_its_positional_fields():
    t = Tolerance(1e-5, 1e-4, "default: max(1e-5, 10x float32 noise)", 2.4e-7)
    assert t.noise_floor == 2.4e-7 and t.origin is ToleranceOrigin.DEFAULT


@pytest.mark.parametrize("verdict, words, ok", [
    (WeightVerdict(VerdictKind.IDENTICAL), "identical", True),
    (WeightVerdict(VerdictKind.WITHIN_TOLERANCE), "equal within tolerance", True),
    (WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP), "equal up to a spatial flip", False),
    (WeightVerdict.up_to(WeightTransform.KERNEL_ROWS_COLUMNS), "equal up to swapped kernel rows/columns", False),
    (WeightVerdict.up_to(WeightTransform.FLATTEN_ROW_ORDER), "equal up to flatten row order", False),
    (WeightVerdict.up_to(WeightTransform.GATE_ORDER, "z,h,r read as z,r,h"),
     "equal up to gate order (z,h,r read as z,r,h)", False),
    (WeightVerdict(VerdictKind.DIFFERENT), "different", False),
    (WeightVerdict(VerdictKind.SHAPE_MISMATCH), "shape mismatch", False),
    (WeightVerdict(VerdictKind.MISSING), "missing", False),
])
def test_weight_verdict_words(verdict, words, ok):
    assert str(verdict) == words and f"{verdict}" == words and verdict.ok is ok


def test_weight_verdict_transform_only_with_transform_kind():
    with pytest.raises(ValueError):
        WeightVerdict(VerdictKind.DIFFERENT, WeightTransform.SPATIAL_FLIP)
    with pytest.raises(ValueError):
        WeightVerdict(VerdictKind.TRANSFORM)


def test_status_and_reason_are_their_words():
    assert [str(s) for s in STATUSES] == ["agree", "noise", "inherited", "diverge", "mismatch", "unmatched",
                                          "unsupported", "pending"]
    assert STATUSES == tuple(Status) and set(GLYPHS) == set(Status) and GLYPHS["agree"] == "="
    assert [str(r) for r in Reason] == ["input", "shape", "weights", "activation", "unsupported", "architecture"]
