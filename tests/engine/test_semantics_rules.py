"""The version rules the engine asks kstep.semantics.Semantics, one property each, per generation and backend."""

from __future__ import annotations

import pytest

from kstep.semantics import Backend, Generation, HardSigmoid, L2Norm, Semantics

K1 = Semantics("keras1", "1.2.2", "theano")
K2_TH = Semantics("keras2", "2.2.4", "theano")
K2_TF = Semantics("keras2", "2.2.4", "tensorflow")
K2_CNTK = Semantics("keras2", "2.2.4", "cntk")
TFK = Semantics("tf.keras", "2.15.0", "tensorflow")
K3 = Semantics("keras3", "3.15.1", "jax")
ALL = {"k1": K1, "k2_th": K2_TH, "k2_tf": K2_TF, "k2_cntk": K2_CNTK, "tfk": TFK, "k3": K3}


def where(prop: str) -> set[str]:
    return {name for name, sem in ALL.items() if getattr(sem, prop)}


def test_strings_are_converted_to_enums():
    assert K1.generation is Generation.KERAS1 and K1.backend is Backend.THEANO
    assert TFK.generation is Generation.TF_KERAS and K3.backend is Backend.JAX


@pytest.mark.parametrize("prop, holds_for", [
    ("softmax_2d_3d_only", {"k1"}),
    ("softmax_layer_2d_last_axis", {"k1", "k2_th", "k2_tf", "k2_cntk"}),
    ("softmax_layer_masks", {"tfk", "k3"}),
    ("bilinear_half_pixel", {"k1", "k2_th", "tfk", "k3"}),
    ("time_distributed_mask_unchanged", {"k1", "k3"}),
    ("time_distributed_folds_mask", {"k2_th", "k2_tf", "k2_cntk", "tfk", "k3"}),
    ("bidirectional_zero_output_for_mask", {"tfk", "k3"}),
    ("attention_ignores_propagated_masks", {"k3"}),
    ("theano", {"k1", "k2_th"}),
])
def test_boolean_rules(prop, holds_for):
    assert where(prop) == holds_for


def test_l2_normalize_per_generation_and_backend():
    assert {n: s.l2_normalize for n, s in ALL.items()} == {
        "k1": L2Norm.DIVIDE, "k2_th": L2Norm.DIVIDE, "k2_cntk": L2Norm.DIVIDE, "k2_tf": L2Norm.RSQRT,
        "tfk": L2Norm.RSQRT, "k3": L2Norm.CAPPED_RSQRT}


def test_hard_sigmoid_is_typed_and_renders_its_formula():
    """kstep.compare.diagnose puts it in f-strings, calls str methods on it and compares two of them."""
    assert K1.hard_sigmoid is TFK.hard_sigmoid is HardSigmoid.LINEAR
    assert K3.hard_sigmoid is HardSigmoid.RELU6
    assert f"clip({K1.hard_sigmoid})" == "clip(0.2x+0.5)" and str(K3.hard_sigmoid) == "x/6+0.5"
    assert K1.hard_sigmoid == "0.2x+0.5" and K3.hard_sigmoid.replace("+", " + ") == "x/6 + 0.5"
    assert K1.hard_sigmoid == K2_TF.hard_sigmoid != K3.hard_sigmoid


def test_flips_kernel_on_theano_only():
    flipped = {"Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "ConvLSTM2D"}
    others = {"SeparableConv2D", "DepthwiseConv2D", "LocallyConnected2D", "ConvLSTM1D", "ConvLSTM3D", "Dense"}
    assert all(K1.flips_kernel(k) and K2_TH.flips_kernel(k) for k in flipped)
    assert not any(K1.flips_kernel(k) for k in others)
    assert not any(s.flips_kernel(k) for s in (K2_TF, K2_CNTK, TFK, K3) for k in flipped)
