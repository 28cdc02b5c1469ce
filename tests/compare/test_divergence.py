"""The first-divergence search on hand-built Rows: what ends it, what it skips, the reason, the verified cause."""

import numpy as np

from kstep.analysis import (
    Hypothesis,
    Reason,
    Row,
    Side,
    Status,
    Tolerance,
    VerdictKind,
    WeightDiff,
    WeightTransform,
    WeightVerdict,
)
from kstep.compare.divergence import DivergenceSearch, find_first, name_the_others
from kstep.compare.inputs import InputDiff
from kstep.compare.metrics import compare_arrays

TOL = Tolerance(1e-5, 1e-4)
A = np.zeros((2, 3), np.float32)


def stats(gap=0.0, shape_new=(2, 3)):
    return compare_arrays(A, np.full(shape_new, gap, np.float32), TOL)


def row(i, status, kind="Dense", gap=0.0, old=True, new=True, weights=(), note="", shape_new=(2, 3)):
    key = f"l{i}"
    s = Side(key, key, kind, kind, (2, 3))
    computed = old and new and status not in (Status.UNSUPPORTED, Status.PENDING)
    return Row(i, s if old else None, s if new else None, status, stats(gap, shape_new) if computed else None,
               weights=list(weights), note=note)


class Diagnosis:
    """A stand-in diagnosis: records the rows it was asked about; 'explains' per code."""

    def __init__(self, *codes_explain):
        self.codes, self.asked = codes_explain, []

    def layer(self, r):
        self.asked.append(r.index)
        return [Hypothesis(code, code, explains, 0.5, 0.0 if explains else 0.5, f"fix {code}")
                for code, explains in self.codes]

    def inputs(self, r, differing):
        self.asked.append(("inputs", r.index, len(differing)))
        return [Hypothesis("input_scale", "scale", True, 0.5, 0.0, "pass --pre-new scale:1/255")]


def search(diag, differing=()):
    return DivergenceSearch(list(differing), diag.layer, diag.inputs)


def test_first_diverging_row_with_the_first_explaining_cause():
    """The first DIVERGE row is the divergence; the first hypothesis that explains names the cause; later rows
    are not examined (the diagnosis runs once)."""
    diag = Diagnosis(("conv_kernel_layout", False), ("theano_kernel_flip", True), ("weights_changed", True))
    rows = [row(0, Status.AGREE), row(1, Status.INHERITED, gap=0.5), row(2, Status.DIVERGE, gap=0.5),
            row(3, Status.DIVERGE, gap=0.5)]
    s = search(diag)
    for r in rows:
        s.feed(r)
    first = s.first
    assert first is not None and s.ended
    assert (first.row, first.old_layer, first.reason, first.cause) == (2, "l2", Reason.ACTIVATION, "theano_kernel_flip")
    assert [h.code for h in first.hypotheses] == ["conv_kernel_layout", "theano_kernel_flip", "weights_changed"]
    assert diag.asked == [2]
    assert first.summary.startswith("propagated: max|Δ| 5.00e-01")


def test_no_explaining_cause_leaves_cause_none():
    first = find_first([row(0, Status.DIVERGE, gap=0.5)], search(Diagnosis(("weights_changed", False))))
    assert first is not None and first.cause is None and first.reason is Reason.ACTIVATION


def test_reason_shape_and_weights():
    shape = row(0, Status.MISMATCH, gap=0.0, shape_new=(2, 4), note="shape (2, 3) vs (2, 4) (after layout mapping)")
    assert find_first([shape], search(Diagnosis())).reason is Reason.SHAPE
    bad = WeightDiff("k", "kernel", (3, 3), (3, 3), WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP), 0.3)
    weights = row(0, Status.MISMATCH, weights=[bad], note="weights differ")
    first = find_first([weights], search(Diagnosis()))
    assert first.reason is Reason.WEIGHTS
    assert first.summary.startswith("weights differ; weight kernel: equal up to a spatial flip; propagated: ")


def test_identity_layer_missing_on_one_side_is_skipped():
    """A Dropout present in OLD only changes nothing; a Dense present in NEW only is an architecture change."""
    rows = [row(0, Status.UNMATCHED, "Dropout", new=False, note="present in OLD only"),
            row(1, Status.UNMATCHED, "Dense", old=False, note="present in NEW only")]
    first = find_first(rows, search(Diagnosis()))
    assert (first.row, first.reason, first.cause) == (1, Reason.ARCHITECTURE, "architecture_changed")
    assert first.old_layer is None and first.new_layer == "l1"
    assert first.summary == "layer l1 (Dense) is present in NEW only"


def test_unsupported_row_ends_the_search():
    rows = [row(0, Status.UNSUPPORTED, "Lambda", note="OLD layer Lambda is unsupported: bytecode"),
            row(1, Status.DIVERGE, gap=0.5)]
    first = find_first(rows, search(Diagnosis()))
    assert (first.row, first.reason, first.cause) == (0, Reason.UNSUPPORTED, "unsupported_layer")
    assert first.summary == "OLD layer Lambda is unsupported: bytecode; the comparison stops here"
    assert first.reason == "unsupported"  # a StrEnum: kstep.cli compares it with the string


def test_differing_inputs_blame_the_first_failing_row():
    """With differing inputs, statuses do not matter (not even unsupported): the first row whose propagated
    comparison fails is the divergence, reason input, diagnosed by the input causes."""
    diff = InputDiff("x", "x", stats(0.5))
    diag = Diagnosis()
    rows = [row(0, Status.AGREE), row(1, Status.UNSUPPORTED, "Lambda"), row(2, Status.INHERITED, gap=0.5)]
    first = find_first(rows, search(diag, [diff]))
    assert (first.row, first.reason, first.cause) == (2, Reason.INPUT, "input_scale")
    assert first.summary == f"the inputs differ: x vs x: {diff.stats}"
    assert diag.asked == [("inputs", 2, 1)]


def test_agreeing_rows_find_nothing_and_end():
    s = search(Diagnosis())
    assert find_first([row(0, Status.AGREE), row(1, Status.NOISE)], s) is None
    assert s.ended
    assert s.feed(row(2, Status.DIVERGE, gap=0.5)) is None  # an ended search looks at no more rows


def test_name_the_others():
    """A verified weight-transform cause names every later layer whose weights show the same transform."""
    flip = WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP)
    rows = [row(0, Status.DIVERGE, gap=0.5, weights=[WeightDiff("k", "k", (3,), (3,), flip)]),
            row(1, Status.INHERITED, gap=0.5, weights=[WeightDiff("k", "k", (3,), (3,), flip)]),
            row(2, Status.INHERITED, gap=0.5, weights=[WeightDiff("k", "k", (3,), (3,),
                                                                  WeightVerdict(VerdictKind.DIFFERENT))]),
            row(3, Status.INHERITED, gap=0.5, weights=[WeightDiff("k", "k", (3,), (3,), flip)])]
    first = find_first(rows, search(Diagnosis(("theano_kernel_flip", True))))
    name_the_others(first, rows)
    name_the_others(first, rows)  # idempotent
    assert first.hypotheses[0].action == ("fix theano_kernel_flip; the same fix applies to l1, l3 "
                                          "(weights equal up to a spatial flip)")


def _new_only_padding(i):
    return row(i, Status.UNMATCHED, kind="ZeroPadding2D", old=False, note="present in NEW only")


def test_new_only_zero_padding_followed_by_an_agreeing_layer_is_no_divergence():
    """The explicit ZeroPadding + 'valid' fix for Theano's 'same': the padding row is held, the next row agrees."""
    rows = [row(0, Status.AGREE), _new_only_padding(1), row(2, Status.AGREE, kind="Conv2D"), row(3, Status.AGREE)]
    assert find_first(rows, search(Diagnosis())) is None


def test_new_only_zero_padding_is_blamed_when_the_next_layer_only_inherits_a_difference():
    """Held padding, then a row whose propagated comparison fails but whose isolated one passed: the padding row is
    the architecture change that made it."""
    rows = [_new_only_padding(0), row(1, Status.INHERITED, gap=1.0), row(2, Status.DIVERGE, gap=1.0)]
    first = find_first(rows, search(Diagnosis(("x", True))))
    assert first is not None and (first.row, first.reason, first.cause) == (0, Reason.ARCHITECTURE,
                                                                            "architecture_changed")


def test_new_only_zero_padding_before_a_diverging_layer_lets_that_layer_be_diagnosed():
    """Held padding, then a diverging layer: the divergence is that layer's, with its verified cause."""
    rows = [_new_only_padding(0), row(1, Status.DIVERGE, kind="Conv2D", gap=1.0)]
    first = find_first(rows, search(Diagnosis(("theano_same_padding", True))))
    assert first is not None and (first.row, first.cause) == (1, "theano_same_padding")


def test_held_padding_with_no_row_after_it_or_a_second_unmatched_layer_is_an_architecture_change():
    """A padding row at the very end, or followed by another one-model-only layer, stops the search there."""
    first = find_first([row(0, Status.AGREE), _new_only_padding(1)], search(Diagnosis()))
    assert first is not None and (first.row, first.reason) == (1, Reason.ARCHITECTURE)
    two = [_new_only_padding(0), row(1, Status.UNMATCHED, kind="Dense", old=False, note="present in NEW only")]
    first = find_first(two, search(Diagnosis()))
    assert first is not None and (first.row, first.reason) == (0, Reason.ARCHITECTURE)
