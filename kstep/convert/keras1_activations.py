"""Provides the exact compositions of Keras 1's learned activations on a (batch, features) input, in standard
layers and in the engine's own order of operations (kstep.engine.advanced):

- ParametricSoftplus: softplus(betas * x) * alphas = Dense(diag betas) -> softplus -> Dense(diag alphas);
- SReLU: t_left + min(leaky_{a_left}(x - t_left), t_r - t_left) + a_right * relu(x - t_r), t_r = t_left + |t_right|
  = Dense(diag 1, bias -t_left) -> PReLU(a_left), Minimum with a constant (Dense with a zero kernel and bias
  t_r - t_left), Dense(diag 1, bias t_left); Dense(diag 1, bias -t_r) -> relu -> Dense(diag a_right); Add.
A diagonal Dense multiplies each feature by one number and adds exact zeros, so it is exact for finite inputs (an
infinite input meets 0 * inf there: NaN where the original had +-inf; said in the transform line). Any other input
rank is refused.
"""

from __future__ import annotations

import numpy as np

from kstep.convert.annotate import Annotations
from kstep.convert.graph import call_key, computed, fresh_name, replace_with_chain
from kstep.convert.target import NotExpressible
from kstep.ir import LayerSpec, ModelSpec, TensorRef

_NOTE = " (exact for finite inputs: an infinite one becomes NaN in the diagonal Dense)"


class _Builder:
    """Names and layers of one composition (all fresh in `model`, the last one named after the replaced layer)."""

    def __init__(self, model: ModelSpec, spec: LayerSpec):
        self.model, self.spec = model, spec
        self.taken: set[str] = set()
        self.layers: list[tuple[LayerSpec, list[TensorRef]]] = []

    def add(self, suffix: str | None, kind: str, params: dict, inputs: list[TensorRef],
            weights: list[np.ndarray] | None = None) -> TensorRef:
        if suffix is None:
            name = self.spec.name
        else:
            name = fresh_name(self.model, f"{self.spec.name}_{suffix}", frozenset(self.taken))
            self.taken.add(name)
        refs = [computed(f"{name}_{i}", w.astype(np.float32), f"{self.spec.kind} composition")
                for i, w in enumerate(weights or [])]
        self.layers.append((LayerSpec(name, kind, kind, params, refs), inputs))
        return TensorRef(name, 0, 0)

    def diag(self, suffix: str | None, x: TensorRef, scale: np.ndarray, bias: np.ndarray | None = None
             ) -> TensorRef:
        params = {"units": int(scale.shape[0]), "activation": "linear", "use_bias": bias is not None}
        weights = [np.diag(scale)] + ([bias] if bias is not None else [])
        return self.add(suffix, "Dense", params, [x], weights)


def _features(spec: LayerSpec, ann: Annotations, prefix: str) -> int:
    seen = ann.of(call_key(prefix, spec, 0))
    shapes = [tuple(w.shape) for w in spec.weights]
    if seen is None or len(seen.in_shapes[0]) != 2 or len(spec.calls) != 1 or any(
            s != (seen.in_shapes[0][1],) for s in shapes):
        raise NotExpressible(spec.name, f"Keras 1 {spec.kind} is composed of standard layers only on a (batch, "
                                        "features) input with one weight per feature, called once")
    return int(seen.in_shapes[0][1])


def parametric_softplus(model: ModelSpec, spec: LayerSpec, ann: Annotations, prefix: str, done: list[str]) -> None:
    _features(spec, ann, prefix)
    alphas, betas = (w.load() for w in spec.weights[:2])
    b = _Builder(model, spec)
    scaled = b.diag("beta", spec.calls[0].inputs[0], betas)
    soft = b.add("softplus", "Activation", {"activation": "softplus"}, [scaled])
    b.diag(None, soft, alphas)
    replace_with_chain(model, spec, lambda inputs, c: b.layers)
    done.append(f"{spec.name}: Keras 1 ParametricSoftplus -> diagonal Dense (betas), softplus, diagonal Dense "
                f"(alphas){_NOTE}")


def srelu(model: ModelSpec, spec: LayerSpec, ann: Annotations, prefix: str, done: list[str]) -> None:
    n = _features(spec, ann, prefix)
    t_left, a_left, t_right, a_right = (w.load() for w in spec.weights[:4])
    t_r = t_left + np.abs(t_right)
    ones = np.ones(n, np.float32)
    b = _Builder(model, spec)
    x = spec.calls[0].inputs[0]
    z = b.diag("from_t_left", x, ones, -t_left)
    leaky = b.add("leaky", "PReLU", {"shared_axes": None}, [z], [a_left])
    cap = b.add("cap", "Dense", {"units": n, "activation": "linear", "use_bias": True}, [x],
                [np.zeros((n, n), np.float32), t_r - t_left])
    centre = b.add("centre", "Minimum", {}, [leaky, cap])
    left = b.diag("plus_t_left", centre, ones, t_left)
    past = b.diag("from_t_right", x, ones, -t_r)
    relu = b.add("relu", "Activation", {"activation": "relu"}, [past])
    right = b.diag("a_right", relu, a_right)
    b.add(None, "Add", {}, [left, right])
    replace_with_chain(model, spec, lambda inputs, c: b.layers)
    done.append(f"{spec.name}: Keras 1 SReLU -> diagonal Dense, PReLU, Minimum with a constant, ReLU and Add{_NOTE}")
