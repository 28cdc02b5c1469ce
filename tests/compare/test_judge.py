"""judge_row on arrays: one row judged from numpy outputs, layout tags and LayerSpecs built here (no model file)."""

import numpy as np
import pytest

from kstep.analysis import Status, VerdictKind, WeightTransform
from kstep.compare.align import Item
from kstep.compare.judge import NOT_COMPUTED, Computed, RowInput, judge_row, layer_level, needs_weights
from kstep.compare.layout import PLAIN, image
from kstep.compare.tolerance import row_tolerance
from kstep.ir import LayerSpec, WeightRef
from kstep.options import CompareOptions
from kstep.semantics import Semantics

SEM = Semantics("tf.keras", "2.15.0", "tensorflow")
THEANO = Semantics("keras1", "1.2.2", "theano")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 4)).astype(np.float32)
ITEM = Item("d", "d", "Dense")


def spec(kind="Dense", weights=(), **params) -> LayerSpec:
    refs = [WeightRef(f"w{i}", tuple(w.shape), "float32", (tuple(w.shape),), lambda w=w: w) for i, w in
            enumerate(weights)]
    return LayerSpec("d", kind, kind, dict(params), refs)


def side(out, kind="Dense", weights=(), tag=PLAIN, sem=SEM, **kw) -> Computed:
    outs = tuple(out) if isinstance(out, (list, tuple)) else (out,)
    return Computed("d", spec(kind, weights), sem, outs, (tag,) * len(outs), PLAIN, 2, tuple(weights), **kw)


def judge(old, new, isolated=None, tol=None, old_item=ITEM, new_item=ITEM):
    tol = tol or row_tolerance(CompareOptions(), ["d"], 0.0)
    return judge_row(RowInput(0, old_item, new_item, old, new, tol, isolated))


def test_agree():
    """Same outputs: agree, the propagated statistics at zero over both samples; the isolated re-run is not
    looked at when every sample's propagated comparison passes."""
    row = judge(side(X), side(X.copy()), isolated=[X.copy()])
    assert row.status is Status.AGREE and row.note == ""
    assert row.propagated.max_abs == 0 and row.isolated is None and row.layout == "same"
    assert row.propagated.samples == 2 and row.propagated.samples_beyond == 0


def test_compensating_isolated_error_is_not_looked_at():
    """The one case 'isolated only where needed' changes: NEW's propagated outputs agree, but NEW's layer fed OLD's
    inputs would not (two mistakes cancelling); the row agrees (it was DIVERGE when every layer was re-run)."""
    row = judge(side(X), side(X.copy()), isolated=[X + 0.5])
    assert row.status is Status.AGREE and row.isolated is None


def test_isolated_only_on_the_failing_samples():
    """Sample 1 differs, sample 0 agrees: the isolated statistics cover sample 1 only, its worst index is sample 1."""
    new = X.copy()
    new[1] += 0.5
    row = judge(side(X), side(new), isolated=[X + 0.5])
    assert row.status is Status.DIVERGE
    assert row.propagated.samples_beyond == 1 and row.propagated.worst_index[0] == 1
    assert row.isolated.samples == 1 and row.isolated.worst_index[0] == 1


def test_noise_is_a_pass_that_needed_the_measured_noise():
    """A gap beyond 1e-5 within 10x the measured noise is NOISE under the default rule, AGREE under --atol."""
    new = X + np.float32(5e-4)
    noisy = row_tolerance(CompareOptions(), ["d"], 1e-4)
    assert judge(side(X), side(new), [new], noisy).status is Status.NOISE
    user = row_tolerance(CompareOptions(atol=1e-3), ["d"], 1e-4)
    assert judge(side(X), side(new), [new], user).status is Status.AGREE


def test_inherited_when_isolated_agrees():
    """The propagated outputs differ, the layer fed OLD's inputs reproduces OLD: inherited."""
    row = judge(side(X), side(X + 0.5), isolated=[X.copy()])
    assert row.status is Status.INHERITED
    assert not row.propagated.passed and row.isolated.passed


def test_diverge_when_isolated_differs():
    row = judge(side(X), side(X + 0.5), isolated=[X + 0.5])
    assert row.status is Status.DIVERGE and not row.isolated.passed


def test_diverge_without_isolated():
    """No isolated outputs (the layer could not be fed): a failing propagated comparison is the layer's own."""
    row = judge(side(X), side(X + 0.5), isolated=None)
    assert row.status is Status.DIVERGE and row.isolated is None


def test_shape_mismatch():
    row = judge(side(X), side(X[:, :3]), isolated=[X[:, :3]])
    assert row.status is Status.MISMATCH
    assert row.note == "shape (2, 4) vs (2, 3) (after layout mapping)"


def test_weights_differ():
    """Same outputs, a weight array that no known transform explains: mismatch, verdict 'different'."""
    k_old, k_new = RNG.normal(size=(4, 4)).astype(np.float32), RNG.normal(size=(4, 4)).astype(np.float32)
    old, new = side(X, weights=[k_old]), side(X.copy(), weights=[k_new])
    assert needs_weights(old, new)
    row = judge(old, new, isolated=[X.copy()])
    assert row.status is Status.MISMATCH and row.note == "weights differ"
    assert [w.verdict.kind for w in row.weights] == [VerdictKind.DIFFERENT]
    assert str(row.weights[0].verdict) == "different" and not row.weights_ok


def test_unflipped_theano_kernel_is_a_spatial_flip():
    """OLD ran on Theano (true convolution); NEW holds the same stored kernel: 'equal up to a spatial flip'."""
    kernel = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)
    fmap = RNG.normal(size=(1, 5, 5, 4)).astype(np.float32)
    tag = image("channels_last")
    old = side(fmap, "Conv2D", [kernel], tag, THEANO)
    new = side(fmap.copy(), "Conv2D", [kernel.copy()], tag)
    row = judge(old, new, isolated=[fmap.copy()])
    verdict = row.weights[0].verdict
    assert verdict.transform is WeightTransform.SPATIAL_FLIP and not verdict.ok
    assert str(verdict) == "equal up to a spatial flip"
    assert row.status is Status.MISMATCH


def test_layouts_are_mapped_before_comparing():
    """NEW's NHWC output is NCHW's transposed: the row agrees and says how it was mapped."""
    nchw = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    old = side(nchw, "Activation", tag=image("channels_first"))
    new = side(np.moveaxis(nchw, 1, -1).copy(), "Activation", tag=image("channels_last"))
    row = judge(old, new, isolated=[nchw.copy()])
    assert row.status is Status.AGREE and row.layout == "nhwc->nchw"


@pytest.mark.parametrize("old_item, new_item, note", [(ITEM, None, "present in OLD only"),
                                                      (None, ITEM, "present in NEW only")])
def test_unmatched(old_item, new_item, note):
    row = judge(side(X) if old_item else None, side(X) if new_item else None, old_item=old_item, new_item=new_item)
    assert row.status is Status.UNMATCHED and row.note == note
    assert (row.old is None) == (old_item is None) and (row.new is None) == (new_item is None)


def test_unsupported():
    old = Computed("d", spec("Lambda"), SEM, unsupported="Python bytecode cannot be executed safely")
    row = judge(old, side(X))
    assert row.status is Status.UNSUPPORTED
    assert row.note == "OLD layer Lambda is unsupported: Python bytecode cannot be executed safely"
    assert row.propagated is None


def test_not_computed_stays_pending():
    """A side the run never reached, or one skipped after an unsupported layer: pending, with a note."""
    assert judge(None, side(X)).status is Status.PENDING
    skipped = Computed("d", spec(), SEM, skipped=True)
    row = judge(skipped, side(X))
    assert row.status is Status.PENDING and row.note == NOT_COMPUTED
    assert not layer_level(skipped, side(X))


def test_nested_model_has_no_weights_or_isolated():
    """A nested model's row compares outputs only (its layers have rows of their own)."""
    old, new = side(X, "Model"), side(X + 0.5, "Model")
    assert not layer_level(old, new)
    row = judge(old, new, isolated=[X])
    assert row.isolated is None and row.weights == [] and row.status is Status.DIVERGE


def test_same_computation_is_not_rerun_isolated():
    """A layer that is OLD's computation exactly (same kind, params, semantics, identical weights): when its
    propagated outputs differ it is INHERITED without an isolated re-run (the re-run would be asked for, never
    called), with the note; a weight that differs makes it re-run."""
    from kstep.compare.judge import SAME_COMPUTATION, RowJudge

    k = RNG.normal(size=(4, 4)).astype(np.float32)
    calls = []

    def isolate(mask):
        calls.append(mask)
        return [X[mask] + 0.5]

    tol = row_tolerance(CompareOptions(), ["d"], 0.0)
    same = RowJudge(0, ITEM, ITEM, tol)
    same.start(side(X, weights=[k]), side(X, weights=[k.copy()]))
    same.add(side(X, weights=[k]), side(X + 0.5, weights=[k.copy()]), np.arange(2), isolate)
    row = same.row()
    assert row.status is Status.INHERITED and row.isolated is None and SAME_COMPUTATION in row.note
    assert calls == []
    other = RowJudge(0, ITEM, ITEM, tol)
    other.start(side(X, weights=[k]), side(X, weights=[k + 1]))
    other.add(side(X, weights=[k]), side(X + 0.5, weights=[k + 1]), np.arange(2), isolate)
    assert len(calls) == 1 and other.row().status is Status.DIVERGE
