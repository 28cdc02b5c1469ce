"""Tests of kstep.compare.cause_padding (`theano_same_padding`) by class: for 1-D/2-D/3-D convolutions (strided,
dilated, even and odd kernels, separable, depthwise) and max/average pools, the padding it names is where the
engine's Theano and TensorFlow 'same' runs differ, and its action (ZeroPadding with those amounts, then 'valid')
reproduces the Theano run exactly wherever it says it does; then the cause itself on a probe. Real Keras pairs:
tests/fixtures/pairs (make_padding_pairs.py), checked by test_modern_pairs.py and test_padding_pairs.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kstep.analysis import Row, Side, Status, Tolerance
from kstep.compare import cause_padding as cp
from kstep.compare.metrics import worst
from kstep.engine.base import Call
from kstep.engine.conv import KERNELS as CONV
from kstep.engine.pooling import KERNELS as POOL
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

TF = Semantics("tf.keras", "2.21.0", "tensorflow")
THEANO = Semantics("keras2", "2.2.4", "theano")
THEANO_INC_PAD = Semantics("keras2", "2.1.2", "theano")  # averages 'same' pools with the padded zeros counted
KERNELS = {**CONV, **POOL}


def _params(kind: str, rank: int, k: int, s: int, d: int, padding: str) -> dict:
    if "Pooling" in kind:
        return {"pool_size": (k,) * rank, "strides": (s,) * rank, "padding": padding, "data_format": "channels_last"}
    return {"kernel_size": (k,) * rank, "strides": (s,) * rank, "dilation_rate": (d,) * rank, "padding": padding,
            "data_format": "channels_last", "activation": "linear", "use_bias": False, "filters": 2}


def _weights(kind: str, rank: int, k: int, rng) -> list[np.ndarray]:
    if "Pooling" in kind:
        return []
    if kind.startswith("Separable"):
        return [rng.standard_normal((k,) * rank + (2, 1)).astype(np.float32),
                rng.standard_normal((1,) * rank + (2, 2)).astype(np.float32)]
    if kind.startswith("Depthwise"):
        return [rng.standard_normal((k,) * rank + (2, 1)).astype(np.float32)]
    return [rng.standard_normal((k,) * rank + (2, 2)).astype(np.float32)]


def _run(kind: str, params: dict, x: np.ndarray, weights: list[np.ndarray], sem: Semantics) -> np.ndarray:
    spec = LayerSpec(name="l", class_name=kind, kind=kind, params=params)
    return KERNELS[kind](Call(layer=spec, inputs=[x], weights=weights, sem=sem, dtype=x.dtype)).outputs[0]


CASES = [(kind, rank, k, s, d, n)
         for kind, rank in (("Conv1D", 1), ("Conv2D", 2), ("Conv3D", 3), ("SeparableConv2D", 2),
                            ("DepthwiseConv2D", 2), ("MaxPooling1D", 1), ("MaxPooling2D", 2), ("MaxPooling3D", 3),
                            ("AveragePooling1D", 1), ("AveragePooling2D", 2))
         for k, s, d, n in itertools.product((1, 2, 3, 4, 5), (1, 2, 3), (1, 2, 3), (4, 5, 6, 7))
         if (d == 1 or (s == 1 and "Pooling" not in kind)) and (rank < 3 or n < 6)]


@pytest.mark.parametrize("kind,rank,k,s,d,n", CASES)
def test_named_padding_is_where_the_rules_differ_and_the_fix_reproduces_theano(kind, rank, k, s, d, n):
    """`differs` iff the engine's Theano and TensorFlow 'same' runs differ; ZeroPadding(theano pads) + 'valid' under
    TensorFlow equals the Theano run (max pools on inputs >= 0; average pools only where Theano counted padding)."""
    rng = np.random.default_rng(k * 1000 + s * 100 + d * 10 + n)
    params = _params(kind, rank, k, s, d, "same")
    x = rng.standard_normal((2,) + (n,) * rank + (2,)).astype(np.float32)
    if kind.startswith("MaxPooling"):
        x = np.abs(x)
    weights = _weights(kind, rank, k, rng)
    found = cp.theano_padding(kind, params, x.shape)
    assert found is not None and len(found.theano) == rank
    flips = THEANO.flips_kernel(kind)
    as_theano = [w[(slice(None, None, -1),) * rank] for w in weights[:1]] + weights[1:] if flips else weights
    theano = _run(kind, params, x, as_theano, THEANO)  # the engine's Theano run of NEW's (correlation) kernel
    tensorflow = _run(kind, params, x, weights, TF)
    same = theano.shape == tensorflow.shape and np.allclose(theano, tensorflow, rtol=1e-5, atol=1e-6)
    assert found.differs == (not same)
    padded = np.pad(x, [(0, 0), *found.theano, (0, 0)])
    valid = dict(params, padding="valid")
    fixed = _run(kind, valid, padded, weights, TF)
    if kind.startswith("AveragePooling"):
        counted = _run(kind, params, x, weights, THEANO_INC_PAD)
        np.testing.assert_allclose(fixed, counted, rtol=1e-5, atol=1e-6)
        if any(p != (0, 0) for p in found.theano):  # zeros counted: not Theano's (2.2.4) average, as the action says
            assert not np.allclose(fixed, theano, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(fixed, theano, rtol=1e-5, atol=1e-6)


def test_kinds_without_a_theano_same_rule_are_not_claimed():
    """Transposed and locally connected convolutions, Dense, global pools: no padding is named."""
    for kind in ("Conv2DTranspose", "LocallyConnected2D", "Dense", "GlobalMaxPooling2D", "ZeroPadding2D"):
        assert cp.window_of(kind) is None
    assert cp.theano_padding("Conv2D", _params("Conv2D", 2, 2, 1, 1, "valid"), (1, 8, 8, 2)) is None
    assert cp.theano_padding("Conv2D", _params("Conv2D", 2, 2, 1, 1, "same"), (1, 8, 2)) is None  # not 2-D input


def test_channels_first_sizes_are_read_from_the_right_axes():
    """A channels_first layer's spatial sizes are axes 2.. (a (1, 3, 8, 6) input is 8 x 6, not 3 x 8)."""
    params = dict(_params("Conv2D", 2, 3, 2, 1, "same"), data_format="channels_first")
    found = cp.theano_padding("Conv2D", params, (1, 3, 8, 7))
    assert found is not None and found.theano == ((1, 0), (1, 1)) and found.tensorflow == ((0, 1), (1, 1))


# ------------------------------------------------------------------------------------------------ the cause on a probe


class _Probe:
    """A LayerProbe stand-in: OLD's layer ran on Theano, NEW's is `new_kind` on TensorFlow, both fed `x`; the
    isolated re-run executes NEW's layer through the engine and compares with OLD's output."""

    def __init__(self, kind: str, params: dict, x: np.ndarray, old_weights: list, new_weights: list,
                 old_sem: Semantics = THEANO):
        self.old_spec = self.new_spec = LayerSpec(name="l", class_name=kind, kind=kind, params=params)
        self.old_sem, self.new_sem = old_sem, TF
        self.old_inputs = [x]
        self.new_weights = new_weights
        self.tolerance = Tolerance(1e-5, 1e-4)
        self.old_out = _run(kind, params, x, old_weights, old_sem)

    def isolated(self, weights=None, spec=None, sem=None):
        got = _run(self.new_spec.kind, (spec or self.new_spec).params, self.old_inputs[0],
                   self.new_weights if weights is None else list(weights), sem or self.new_sem)
        return worst([self.old_out], [got], self.tolerance)


def _row(p: _Probe) -> Row:
    side = Side("l", "l", p.new_spec.kind, p.new_spec.kind, None)
    return Row(0, side, side, Status.DIVERGE, isolated=p.isolated())


def _conv_probe(*, flipped: bool, k: int = 2, s: int = 1) -> _Probe:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 8, 2)).astype(np.float32)
    kernel = rng.standard_normal((k, k, 2, 2)).astype(np.float32)  # OLD's, as Theano stored it (it convolves)
    new = kernel[::-1, ::-1] if flipped else kernel
    return _Probe("Conv2D", _params("Conv2D", 2, k, s, 1, "same"), x, [kernel], [np.ascontiguousarray(new)])


def test_probe_even_kernel_is_named_with_the_exact_zero_padding():
    """Correctly flipped, even kernel: the cause applies, its re-run closes the gap, and the action names
    ZeroPadding2D(((1, 0), (1, 0))) + padding='valid'."""
    p = _conv_probe(flipped=True)
    row = _row(p)
    assert not row.isolated.passed and cp.applies(p, row)
    [h] = cp.tries(p, row)
    assert h.code == "theano_same_padding" and h.explains and h.after < h.before
    assert "ZeroPadding2D(padding=((1, 0), (1, 0)))" in h.action and "padding='valid'" in h.action


def test_probe_unflipped_even_kernel_needs_both_fixes():
    """Neither flipped nor re-padded: padding alone does not close the gap; padding with the flip does, and the
    action says both."""
    p = _conv_probe(flipped=False)
    row = _row(p)
    alone, both = cp.tries(p, row)
    assert not alone.explains and both.explains and "convert_kernel" in both.action


def test_probe_odd_kernel_at_stride_one_is_not_claimed():
    """3x3, stride 1: both rules pad (1, 1); an unflipped kernel there is theano_kernel_flip's, not this cause's."""
    p = _conv_probe(flipped=False, k=3)
    assert not cp.applies(p, _row(p))


def test_probe_needs_theano_on_old_and_not_on_new():
    """OLD on TensorFlow: the rules are the same, nothing to name."""
    p = _conv_probe(flipped=True)
    p.old_sem = TF
    assert not cp.applies(p, _row(p))


@pytest.mark.parametrize("negative", [False, True])
def test_probe_max_pool_says_when_zero_padding_is_exact(negative):
    """Theano's MaxPooling2D(2, 'same'): explained; ZeroPadding is called exact only for an input >= 0."""
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 2)).astype(np.float32)
    x = x - 5 if negative else np.abs(x)
    p = _Probe("MaxPooling2D", _params("MaxPooling2D", 2, 2, 2, 1, "same"), x, [], [])
    [h] = cp.tries(p, _row(p))
    assert h.explains and "ZeroPadding2D(padding=((1, 0), (1, 0)))" in h.action
    assert ("-inf" in h.action) == negative and ("exact here" in h.action) == (not negative)


@pytest.mark.parametrize("sem,expressible", [(THEANO, False), (THEANO_INC_PAD, True)])
def test_probe_average_pool_says_what_is_expressible(sem, expressible):
    """AveragePooling2D(3, strides=2, 'same') on 8x8: explained either way; ZeroPadding + 'valid' is offered as exact
    only for Keras 2.0.4-2.1.4, which counted the padded zeros."""
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 2)).astype(np.float32)
    p = _Probe("AveragePooling2D", _params("AveragePooling2D", 2, 3, 2, 1, "same"), x, [], [], old_sem=sem)
    [h] = cp.tries(p, _row(p))
    assert h.explains
    assert h.action.startswith("not expressible") != expressible


def test_title_names_the_window_kind_in_words():
    """The hypothesis title says 'max pooling', not the enum's repr."""
    x = np.abs(np.random.default_rng(7).standard_normal((2, 8, 8, 2)).astype(np.float32))
    p = _Probe("MaxPooling2D", _params("MaxPooling2D", 2, 2, 2, 1, "same"), x, [], [])
    [h] = cp.tries(p, _row(p))
    assert "(max pooling, keras-formats.md §4.2)" in h.title and "Window." not in h.title
