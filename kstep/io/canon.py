"""Provides `canonicalize`: one stored layer config (any Keras spelling) -> canonical kind and resolved params.

Keras 1 argument names (nb_filter, border_mode, subsample, dim_ordering, output_dim, inner_activation, ...) and
Keras 3 names (negative_slope, batch_shape) are mapped to tf.keras 2 config keys, and every parameter the engine
uses gets a value: the stored one, or the default of the writer's version; size params (units, filters, ...) must be
whole numbers >= 0. What a kind is (its aliases, defaults, spatial params, recurrent gates) comes from kstep.kinds;
version rules are `Semantics` properties. Defaults that differ between versions and facts the file did not state are
returned as `Fact`s so `inspect` can show them and `--assume` can change them. See docs/canonical.md for the result
and ../shared/docs/keras-formats.md §3.1, §4 for the sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kstep.io.context import Context
from kstep.io.params import as_int, flatten_params, spatial_params
from kstep.ir import Fact, Source
from kstep.kinds import MODEL_CLASSES, ConvForm, Family, KindInfo, canonical, info
from kstep.semantics import Semantics

# Keras 1 (and a few Keras 3) argument names -> tf.keras 2 names, for every kind.
RENAMES = {
    "nb_filter": "filters",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "atrous_rate": "dilation_rate",
    "bias": "use_bias",
    "inner_activation": "recurrent_activation",
    "pool_length": "pool_size",
    "stride": "strides",  # Keras 1 Pooling1D
    "filter_length": "kernel_size",
    "p": "rate",
    "sigma": "stddev",
    "negative_slope_layer": "negative_slope",
    "batch_shape": "batch_input_shape",
    "input_dtype": "dtype",
}

# Keras 1 arguments that only matter in training (initializers, regularizers, constraints, dropout) or only to
# build the layer (input_dim, input_length), and `consume_less`, which does not change the maths (§4.4).
DROPPED = frozenset({
    "init", "inner_init", "W_regularizer", "b_regularizer", "U_regularizer", "W_constraint", "b_constraint",
    "U_constraint", "activity_regularizer", "beta_init", "gamma_init", "forget_bias_init", "consume_less",
    "input_dim", "input_length", "dropout_W", "dropout_U",
})


# Integer sizes a known kind's config may hold (Keras 1 output_dim is renamed to units first, except Embedding's).
SIZE_PARAMS = ("units", "filters", "output_dim", "input_dim", "depth_multiplier", "num_heads", "key_dim", "value_dim",
               "nb_feature")


@dataclass
class Canon:
    """The canonical description of one stored layer config."""

    kind: str
    params: dict[str, Any]
    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inner_configs: list[dict[str, Any]] = field(default_factory=list)  # wrapper: [forward, backward] or [inner]
    unsupported: str | None = None  # a configuration of a known kind that kstep cannot execute


def activation_name(value: Any) -> str:
    """Canonical activation name from a stored value (None, str, Keras 3 dict, 'keras.activations.relu')."""
    if value is None:
        return "linear"
    if isinstance(value, dict):
        cfg = value.get("config")
        if isinstance(cfg, str):
            value = cfg
        elif isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            value = cfg["name"]
        else:
            value = value.get("class_name", "unknown")
    if not isinstance(value, str):
        return "unknown"
    name = value.rsplit(".", 1)[-1]
    return {"softmax_v2": "softmax", "swish": "silu", "hard_swish": "hard_silu", None: "linear"}.get(name, name)


def canonicalize(class_name: str, config: dict[str, Any], ctx: Context) -> Canon:
    """Map one stored layer (class name + config dict) to its canonical kind and resolved params.

    Raises ValueError (the caller names the layer and file) when a parameter has an impossible value.
    """
    kind = canonical(class_name)
    record = info(kind)
    raw = dict(config)
    name = str(raw.get("name", ""))
    facts: list[Fact] = []
    notes: list[str] = []
    if kind != class_name and class_name not in MODEL_CLASSES:
        notes.append(f"{class_name} runs as {kind}")

    p: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("name", "trainable", "dtype") or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if key in DROPPED:
            continue
        p[RENAMES.get(key, key)] = value
    if kind == "LeakyReLU" and "negative_slope" in p and "alpha" not in p:
        p["alpha"] = p.pop("negative_slope")
    if record is not None and record.output_dim_is_units and "output_dim" in p:
        p["units"] = p.pop("output_dim")
    if class_name == "TimeDistributedDense":
        notes.append("Keras 1 TimeDistributedDense: a Dense applied at every time step")
    if record is not None:
        for k, v in record.defaults.items():
            p.setdefault(k, v)
        _check_sizes(p)
    if "activation" in p or (record is not None and record.fused_activation):
        p["activation"] = activation_name(p.get("activation", "linear"))
    if "recurrent_activation" in p:
        p["recurrent_activation"] = activation_name(p["recurrent_activation"])

    if record is not None and record.rank is not None:
        spatial_params(record, class_name, raw, p, ctx, facts, name)
    if kind == "Flatten":
        flatten_params(raw, p, ctx, facts, name)
    if record is not None and record.recurrent and record.plain_kind is None:  # CuDNN kinds: fixed, in their defaults
        _rnn_defaults(record, p, ctx.sem, facts, name)
    if kind == "BatchNormalization":
        _bn_params(p, ctx.sem, facts, name)
    if kind == "LayerNormalization" and not isinstance(p["axis"], list):
        p["axis"] = [p["axis"]]
    if kind == "Merge":
        for code_key in ("mode", "output_shape", "output_mask"):
            if raw.get(f"{code_key}_type") in ("lambda", "function"):
                p[code_key] = f"<{code_key}: marshalled Python code, never executed>"
                if code_key == "mode":
                    p["mode"] = "lambda"
    if kind == "Lambda":
        p = {k: ("<marshalled Python code, never executed>" if k in ("function", "output_shape", "mask")
                 and v is not None and not isinstance(v, (int, float, bool)) else v) for k, v in p.items()}
    if kind == "Reshape":
        shape = p.get("target_shape")
        if not isinstance(shape, (list, tuple)):
            raise ValueError(f"target_shape {shape!r} is not a list of integers")
        p["target_shape"] = tuple(as_int(v, "target_shape") for v in shape)
    if kind == "RepeatVector":
        p["n"] = as_int(p.get("n"), "n")
    inner_configs: list[dict[str, Any]] = []
    if record is not None and record.family is Family.WRAPPERS:
        inner_configs = _wrapper_inner(kind, raw, p)
    unsupported = None
    if record is not None and record.conv_form is ConvForm.LOCAL and p.get("implementation", 1) != 1:
        unsupported = f"implementation={p['implementation']} kernel layout is not read yet (only implementation=1)"
    return Canon(kind, p, facts, notes, inner_configs, unsupported)


def _check_sizes(p: dict[str, Any]) -> None:
    """The size params of a known kind are whole numbers >= 0 (units=3.5, -1, True or [3] are refused; a float such
    as 1e18 becomes the int that kstep.io.limits then refuses as absurdly large)."""
    for key in SIZE_PARAMS:
        if p.get(key) is not None:
            value = as_int(p[key], key)
            if value < 0:
                raise ValueError(f"{key} {p[key]!r} is negative")
            p[key] = value


def _rnn_defaults(record: KindInfo, p: dict[str, Any], sem: Semantics, facts: list[Fact], name: str) -> None:
    """The version-dependent recurrent defaults (§4.4), each recorded as a fact; `implementation` is dropped."""
    if "recurrent_activation" not in p and len(record.gates) > 1:  # gated kinds; SimpleRNN has none
        value = sem.default_recurrent_activation
        p["recurrent_activation"] = value
        facts.append(Fact(f"layer.{name}.recurrent_activation", value, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to {value}"))
    if record.kind == "GRU" and "reset_after" not in p:
        reset_after = sem.default_gru_reset_after
        p["reset_after"] = reset_after
        facts.append(Fact(f"layer.{name}.reset_after", reset_after, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to reset_after={reset_after}"))
    if "implementation" in p:
        p.pop("implementation")


def _bn_params(p: dict[str, Any], sem: Semantics, facts: list[Fact], name: str) -> None:
    """BatchNormalization's Keras 1 mode and version-dependent epsilon (§4.3); a one-entry axis list unwrapped."""
    if sem.bn_has_mode:
        p.setdefault("mode", 0)  # 0 running statistics, 1 per sample, 2 batch statistics
    if "epsilon" not in p:
        eps = sem.default_bn_epsilon
        p["epsilon"] = eps
        facts.append(Fact(f"layer.{name}.epsilon", eps, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to {eps}"))
    axis = p.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    p["axis"] = axis


def _wrapper_inner(kind: str, raw: dict[str, Any], p: dict[str, Any]) -> list[dict[str, Any]]:
    """The wrapped layer configs: [inner] for TimeDistributed, [forward, backward] for Bidirectional (a backward
    layer that is not stored is the forward one with go_backwards flipped)."""
    inner = raw.get("layer")
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise ValueError(f"{kind} has no wrapped layer config")
    p.pop("layer", None)
    if kind == "TimeDistributed":
        return [inner]
    forward = inner
    backward = raw.get("backward_layer")
    p.pop("backward_layer", None)
    if not isinstance(backward, dict) or not isinstance(backward.get("config"), dict):
        cfg = dict(forward["config"])
        cfg["go_backwards"] = not bool(cfg.get("go_backwards", False))
        cfg["name"] = "backward_" + str(cfg.get("name", ""))
        backward = {"class_name": forward.get("class_name"), "config": cfg}
    fcfg = dict(forward["config"])
    fcfg["name"] = "forward_" + str(fcfg.get("name", "")) if not str(fcfg.get("name", "")).startswith(
        "forward_") else fcfg["name"]
    return [{"class_name": forward.get("class_name"), "config": fcfg}, backward]
