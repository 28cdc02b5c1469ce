"""Provides `tf_keras_config`: one layer of a target-ready ModelSpec (kstep.convert.target) -> its tf.keras 2
config dict, and the refusals both target writers share (`check_activations`, `refuse`).

The config is the layer's params (already tf.keras 2 keys with explicit values) with the name, `trainable` and
dtype added, the params kstep's reader fills in that tf.keras's config does not hold removed (or the layer refused
when one holds a value tf.keras cannot compute), the sizes the reader does not keep read back from the weights, and
wrapped layers as nested `{class_name, config}` entries. All of that per-kind knowledge is the kind's `Spelling` in
kstep.kinds; the Keras 3 writer starts from this config and applies Keras 3's spelling on top.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from kstep.convert.target import NotExpressible
from kstep.ir import LayerSpec
from kstep.kinds import TRAINING_ONLY, Family, KindInfo, Spelling, info

ACTIVATION_KEYS = ("activation", "recurrent_activation")
"""The params whose value is an activation name (canonical names, kstep.io.canon.activation_name)."""


def record_of(spec: LayerSpec) -> KindInfo:
    """The kind's record; NotExpressible when kstep does not know the kind or cannot execute this configuration
    (a writer never writes what kstep could not check)."""
    record = info(spec.kind)
    if record is None:
        raise NotExpressible(spec.name, f"kstep does not know the layer kind {spec.kind}")
    if spec.unsupported:
        raise NotExpressible(spec.name, f"{spec.kind}: {spec.unsupported}")
    if record.tf_keras.missing:
        raise NotExpressible(spec.name, f"{spec.kind} is {record.tf_keras.missing}")
    return record


def unstate(spec: LayerSpec, params: dict[str, Any], spelling: Spelling, target: str) -> None:
    """Remove from `params` the keys `spelling` says the target's config does not hold; NotExpressible when one holds
    another value than the only one the target computes."""
    for key, only in spelling.unstated.items():
        if key not in params:
            continue
        value = params.pop(key)
        if only != TRAINING_ONLY and _plain(value) != _plain(only):
            raise NotExpressible(spec.name, f"{spec.kind} with {key}={_plain(value)!r}: {target} computes only "
                                            f"{key}={_plain(only)!r}")


def check_activations(spec: LayerSpec, known: Iterable[str], target: str, hint: str | None = None,
                      refused: Mapping[str, str] | None = None) -> None:
    """NotExpressible when an activation param (of the layer or a wrapped layer) names a function the target does not
    have (`known`) or computes differently (`refused`: name -> why)."""
    names = frozenset(known)
    for layer in [spec, *spec.wrapped]:
        for key in ACTIVATION_KEYS:
            name = layer.params.get(key)
            if name is None:
                continue
            if refused and name in refused:
                raise NotExpressible(spec.name, f"{key}='{name}': {refused[name]}", hint)
            if name not in names:
                raise NotExpressible(spec.name, f"{key}='{name}' is not an activation {target} has", hint)


def tf_keras_config(spec: LayerSpec, keras3: bool = False) -> dict[str, Any]:
    """The layer's tf.keras 2 config (JSON-ready: tuples as lists); NotExpressible when tf.keras cannot express it.

    keras3: the config the Keras 3 writer starts from: keys only Keras 3 holds (`Spelling.extra`, from a Keras 3
    file) are kept as they are instead of checked and removed."""
    record = record_of(spec)
    params = dict(spec.params)
    spelling = record.tf_keras
    unstate(spec, params, spelling, "tf.keras 2")
    if not keras3:
        for key, neutral in record.keras3.extra.items():
            if key in params and neutral != TRAINING_ONLY and _plain(params[key]) != _plain(neutral):
                raise NotExpressible(spec.name, f"{spec.kind} with {key}={_plain(params[key])!r} (Keras 3): "
                                                "tf.keras 2 has no such option", "convert it --to keras3")
            params.pop(key, None)
    for key, value in spelling.fill.items():
        params.setdefault(key, value)
    for key in spelling.unwrap:
        value = params.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 1:
            params[key] = value[0]
    for key, (index, axis) in spelling.from_weights.items():
        if index >= len(spec.weights):
            raise NotExpressible(spec.name, f"{spec.kind} needs weight {index} to state {key}; it has none")
        params[key] = int(spec.weights[index].shape[axis])
    params.pop("dtype", None)  # Keras 1's input_dtype (the model input's, read as `dtype`), not the layer's
    config: dict[str, Any] = {"name": spec.name, "trainable": spec.trainable, "dtype": _dtype(spec)}
    config.update(params)
    if record.family is Family.WRAPPERS:
        config.update(_wrapped(spec, keras3))
    return plain(config)


def trainable_flags(spec: LayerSpec) -> list[bool]:
    """Per weight of a layer that is not a model or wrapper (in its weight order): does training update it? tf.keras
    lists a layer's and a model's trainable weights before the others."""
    record = info(spec.kind)
    flags = [w.trainable for w in record.weights if w.when is None or spec.params.get(w.when, True)] \
        if record is not None and record.weights is not None else []
    if len(flags) != len(spec.weights):
        flags = [True] * len(spec.weights)
    return [spec.trainable and t for t in flags]


def _wrapped(spec: LayerSpec, keras3: bool) -> dict[str, Any]:
    """A wrapper's `layer` (and Bidirectional's `backward_layer` when it is not the forward layer run backwards)."""
    if not spec.wrapped:
        raise NotExpressible(spec.name, f"{spec.kind} without a wrapped layer")
    if spec.kind == "TimeDistributed":
        inner = spec.wrapped[0]
        return {"layer": {"class_name": inner.kind, "config": tf_keras_config(inner, keras3)}}
    forward, backward = spec.wrapped[0], spec.wrapped[-1]
    fcfg = tf_keras_config(forward, keras3)
    fcfg["name"] = _strip(fcfg["name"], "forward_")
    out: dict[str, Any] = {"layer": {"class_name": forward.kind, "config": fcfg}}
    flipped = dict(forward.params, go_backwards=not forward.params.get("go_backwards", False))
    if len(spec.wrapped) == 2 and (backward.kind != forward.kind or plain(backward.params) != plain(flipped)):
        bcfg = tf_keras_config(backward, keras3)
        bcfg["name"] = _strip(bcfg["name"], "backward_")
        out["backward_layer"] = {"class_name": backward.kind, "config": bcfg}
    return out


def _strip(name: str, prefix: str) -> str:
    """The wrapped layer's own name: the wrapper adds `prefix` again when it builds it."""
    return name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name


def _dtype(spec: LayerSpec) -> str:
    """The layer's dtype: its weights' float type when they have one, else float32 (what the reader ran)."""
    floats = {w.dtype for w in spec.weights if w.dtype in ("float16", "float32", "float64")}
    return floats.pop() if len(floats) == 1 else "float32"


def plain(value: Any) -> Any:
    """`value` with tuples as lists and numpy scalars as Python numbers (what json.dumps writes and reads back)."""
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
