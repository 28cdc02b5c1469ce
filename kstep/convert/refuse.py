"""Provides `refusals`: the layers of MODEL that no standard layer of the target computes exactly, found before any
work is done (exit 3, nothing written). kstep refuses rather than approximates: a Lambda (its bytecode is never run),
a layer kstep cannot execute, a Keras 1 BatchNormalization in mode 1 or 2, a recurrent or activation hard_sigmoid
going to Keras 3 (whose hard_sigmoid is relu6(x+3)/6, not 0.2x+0.5), a bilinear upsampling that used TF 1's legacy
resize (standalone Keras 2 on TensorFlow).
"""

from __future__ import annotations

from kstep.convert.graph import walk
from kstep.convert.target import NotExpressible, Target
from kstep.ir import LayerSpec, ModelSpec
from kstep.kinds import info
from kstep.semantics import HardSigmoid, Semantics

_ACTIVATION_KEYS = ("activation", "recurrent_activation")


def _uses_hard_sigmoid(spec: LayerSpec) -> bool:
    return any(spec.params.get(k) == "hard_sigmoid" for k in _ACTIVATION_KEYS)


def _refusal(spec: LayerSpec, sem: Semantics, target: Target) -> NotExpressible | None:
    if spec.kind == "Lambda":
        return NotExpressible(spec.name, "a Lambda layer holds Python bytecode, which kstep never runs or writes")
    if info(spec.kind) is None:
        return NotExpressible(spec.name, f"kstep does not know the layer kind {spec.kind}")
    if spec.unsupported:
        return NotExpressible(spec.name, spec.unsupported)
    if spec.kind == "BatchNormalization" and int(spec.params.get("mode", 0) or 0) != 0:
        return NotExpressible(spec.name, f"Keras 1 BatchNormalization mode {spec.params.get('mode')} normalises with "
                                         "each batch's own statistics at inference; no standard layer does")
    if target is Target.KERAS3 and sem.hard_sigmoid is HardSigmoid.LINEAR and any(
            _uses_hard_sigmoid(s) for s in (spec, *spec.wrapped)):
        return NotExpressible(spec.name, "its hard_sigmoid is 0.2x+0.5 here, Keras 3's is relu6(x+3)/6",
                              "convert with --to tf.keras (OUT.h5), whose hard_sigmoid is the same")
    if spec.params.get("interpolation") == "bilinear" and spec.kind.startswith("UpSampling") \
            and not sem.bilinear_half_pixel:
        return NotExpressible(spec.name, "bilinear upsampling with TF 1's legacy resize (no half-pixel centres); "
                                         "the target samples at half-pixel centres")
    return None


def refusals(model: ModelSpec, sem: Semantics, target: Target) -> list[NotExpressible]:
    """Every layer (nested and wrapped ones too) that the target cannot express exactly, in config order."""
    found = []
    for _prefix, _holder, spec in walk(model):
        for layer in (spec, *spec.wrapped):
            refusal = _refusal(layer, sem, target)
            if refusal is not None:
                if layer is not spec:
                    refusal = NotExpressible(spec.name, f"its wrapped layer {layer.name}: {refusal.why}", refusal.hint)
                found.append(refusal)
                break
    return found
