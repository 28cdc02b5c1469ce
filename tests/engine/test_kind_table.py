"""The engine's registry and kstep.kinds agree: every registered kernel has a record naming its module as family, every
record outside Family.STRUCTURE has a kernel, and the kernels flip exactly the weights the table says Theano flips."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from kstep.engine import registry
from kstep.engine.base import Call
from kstep.ir import LayerSpec
from kstep.kinds import KINDS, Family, KindInfo, SpatialParams, kinds_where
from kstep.semantics import Semantics

THEANO = Semantics("keras2", "2.2.4", "theano")
TF = Semantics("keras2", "2.2.4", "tensorflow")
ENGINE_FAMILIES = [f for f in Family if f is not Family.STRUCTURE]


@pytest.mark.parametrize("family", ENGINE_FAMILIES, ids=lambda f: f.value)
def test_family_module_kernels_are_the_family_records(family):
    """kstep/engine/<family>.py's KERNELS registers exactly the kinds whose record has that family."""
    module = importlib.import_module(f"kstep.engine.{family.value}")
    assert set(module.KERNELS) == {k for k, i in KINDS.items() if i.family is family}


def test_every_registered_kind_has_a_record_of_its_module():
    """Every kind in the registry has a KINDS record whose family is the module that registered the kernel."""
    for kind, kernel in registry.REGISTRY.items():
        assert kind in KINDS, f"{kind} is registered but has no kstep.kinds record"
        assert kernel.__module__ == f"kstep.engine.{KINDS[kind].family.value}", kind


def test_every_record_outside_structure_has_a_kernel():
    """A record the engine cannot execute would be a kind kstep claims to know but reports unsupported."""
    missing = sorted(k for k, i in KINDS.items() if i.family is not Family.STRUCTURE and k not in registry.REGISTRY)
    assert not missing


def test_structural_and_passes_mask_come_from_the_table():
    assert registry.STRUCTURAL == {k for k, i in KINDS.items() if i.family is Family.STRUCTURE}
    assert registry.STRUCTURAL.isdisjoint(registry.REGISTRY)
    assert registry.PASSES_MASK == kinds_where("passes_mask")
    assert registry.PASSES_MASK <= set(registry.REGISTRY)


# --------------------------------------------------------------------------------------- kernel flips under Theano

def _spatial_kinds() -> list[str]:
    """Every kind that slides a spatial kernel: the conv family and ConvLSTM1D/2D/3D."""
    return sorted(k for k, i in KINDS.items() if i.convolution or i.conv_recurrent)


def _case(info: KindInfo, rng: np.random.Generator) -> tuple[dict, np.ndarray, list[np.ndarray]]:
    """(params, input, weights) of a small 'valid', stride-1, odd-kernel layer of this kind (channels_last), for
    which Theano and TensorFlow differ only in the kernel flip."""
    r = info.rank
    assert r is not None and info.spatial is SpatialParams.KERNEL
    k, c, f, n = (3,) * r, 2, 3, (5,) * r
    params = dict(filters=f, kernel_size=k, strides=(1,) * r, padding="valid", data_format="channels_last",
                  dilation_rate=(1,) * r, groups=1, use_bias=True, activation="tanh", output_padding=None)
    kind = info.kind
    if info.conv_recurrent:
        params.update(recurrent_activation="sigmoid", return_sequences=True)
        x = rng.normal(size=(2, 3, *n, c))
        weights = [rng.normal(size=(*k, c, 4 * f)), rng.normal(size=(*k, f, 4 * f)), rng.normal(size=4 * f)]
    elif kind.startswith("Separable"):
        x = rng.normal(size=(2, *n, c))
        weights = [rng.normal(size=(*k, c, 2)), rng.normal(size=(*(1,) * r, 2 * c, f)), rng.normal(size=f)]
    elif kind.startswith("Depthwise"):
        x = rng.normal(size=(2, *n, c))
        weights = [rng.normal(size=(*k, c, 2)), rng.normal(size=2 * c)]
    elif kind.startswith("LocallyConnected"):
        out = tuple(v - 2 for v in n)
        x = rng.normal(size=(2, *n, c))
        weights = [rng.normal(size=(int(np.prod(out)), int(np.prod(k)) * c, f)), rng.normal(size=(*out, f))]
    elif kind.endswith("Transpose"):
        x = rng.normal(size=(2, *n, c))
        weights = [rng.normal(size=(*k, f, c)), rng.normal(size=f)]
    else:
        x = rng.normal(size=(2, *n, c))
        weights = [rng.normal(size=(*k, c, f)), rng.normal(size=f)]
    return params, x, weights


def _run(kind: str, params: dict, x: np.ndarray, weights: list[np.ndarray], sem: Semantics) -> np.ndarray:
    spec = LayerSpec(name="l", class_name=kind, kind=kind, params=params)
    out = registry.REGISTRY[kind](Call(layer=spec, inputs=[x], weights=weights, sem=sem, dtype=np.dtype("float64")))
    return out.outputs[0]


@pytest.mark.parametrize("kind", _spatial_kinds())
def test_kernel_flips_exactly_the_weights_the_table_says(kind):
    """A Theano file's layer computes what TensorFlow computes with the weights at `flipped_by_theano` spatially
    flipped (ConvLSTM2D: kernel and recurrent kernel) and the others as they are; kinds with no such index
    (depthwise, separable, locally connected, ConvLSTM1D/3D) are the same on both backends."""
    info = KINDS[kind]
    params, x, weights = _case(info, np.random.default_rng(sum(map(ord, kind))))
    assert all(i < len(weights) for i in info.flipped_by_theano)
    assert THEANO.flips_kernel(kind) == bool(info.flipped_by_theano)
    nd = info.rank or 0
    flipped = [w[(slice(None, None, -1),) * nd] if i in info.flipped_by_theano else w for i, w in enumerate(weights)]
    want = _run(kind, params, x, flipped, TF)
    np.testing.assert_allclose(_run(kind, params, x, weights, THEANO), want, rtol=1e-12, atol=1e-12)
    if info.flipped_by_theano:  # the flip matters for these weights, so the check above is not vacuous
        assert not np.allclose(_run(kind, params, x, weights, TF), want)


def test_only_conv_recurrent_kinds_flip_a_recurrent_kernel():
    """conv_lstm flips the kernel and the recurrent kernel together: a kind flipping index 1 flips index 0 too."""
    for kind, info in KINDS.items():
        if 1 in info.flipped_by_theano:
            assert info.conv_recurrent and info.flipped_by_theano == (0, 1), kind
        elif info.flipped_by_theano:
            assert info.convolution and info.flipped_by_theano == (0,), kind
