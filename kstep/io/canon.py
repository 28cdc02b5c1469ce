"""Provides `canonicalize`: one stored layer config (any Keras spelling) -> canonical kind and resolved params.

Keras 1 argument names (nb_filter, border_mode, subsample, dim_ordering, output_dim, inner_activation, ...) and
Keras 3 names (negative_slope, batch_shape) are mapped to tf.keras 2 config keys, and every parameter the engine
uses gets a value: the stored one, or the default of the writer's version. Defaults that differ between versions
and facts the file did not state are returned as `Fact`s so `inspect` can show them and `--assume` can change them.
See docs/canonical.md for the result and ../shared/docs/keras-formats.md §3.1, §4 for the sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kstep.ir import Fact, Source
from kstep.semantics import Semantics

# Stored class name -> canonical kind (only where they differ).
ALIASES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Convolution2DTranspose": "Conv2DTranspose",
    "SeparableConvolution1D": "SeparableConv1D",
    "SeparableConvolution2D": "SeparableConv2D",
    "DepthwiseConvolution2D": "DepthwiseConv2D",
    "TimeDistributedDense": "Dense",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "Functional": "Model",
    "Sequential": "Model",
}

MODEL_CLASSES = {"Model", "Functional", "Sequential"}
WRAPPERS = {"TimeDistributed", "Bidirectional"}

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

# Spatial rank of the kinds that take kernel_size/strides/pool_size/size tuples.
RANK = {
    "Conv1D": 1, "Conv2D": 2, "Conv3D": 3,
    "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
    "SeparableConv1D": 1, "SeparableConv2D": 2, "DepthwiseConv1D": 1, "DepthwiseConv2D": 2,
    "LocallyConnected1D": 1, "LocallyConnected2D": 2, "ConvLSTM2D": 2, "ConvLSTM1D": 1, "ConvLSTM3D": 3,
    "MaxPooling1D": 1, "MaxPooling2D": 2, "MaxPooling3D": 3,
    "AveragePooling1D": 1, "AveragePooling2D": 2, "AveragePooling3D": 3,
    "UpSampling1D": 1, "UpSampling2D": 2, "UpSampling3D": 3,
    "ZeroPadding1D": 1, "ZeroPadding2D": 2, "ZeroPadding3D": 3,
    "Cropping1D": 1, "Cropping2D": 2, "Cropping3D": 3,
    "GlobalMaxPooling1D": 1, "GlobalMaxPooling2D": 2, "GlobalMaxPooling3D": 3,
    "GlobalAveragePooling1D": 1, "GlobalAveragePooling2D": 2, "GlobalAveragePooling3D": 3,
    "SpatialDropout1D": 1, "SpatialDropout2D": 2, "SpatialDropout3D": 3,
}

CONV_KINDS = {
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    "LocallyConnected1D", "LocallyConnected2D",
}
POOL_KINDS = {k for k in RANK if "Pooling" in k and not k.startswith("Global")}
RNN_KINDS = {"SimpleRNN", "LSTM", "GRU", "CuDNNLSTM", "CuDNNGRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
CONV_LSTM_KINDS = {"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}

RNN_DEFAULTS = dict(
    activation="tanh", use_bias=True, return_sequences=False, return_state=False, go_backwards=False,
    stateful=False, unroll=False, time_major=False,
)

# Version-independent defaults per kind (tf.keras 2 values); version-dependent ones are handled in code below.
DEFAULTS: dict[str, dict] = {
    "Dense": dict(activation="linear", use_bias=True),
    "Activation": dict(activation="linear"),
    "Dropout": dict(rate=0.0),
    "Flatten": dict(),
    "Reshape": dict(),
    "Permute": dict(),
    "RepeatVector": dict(),
    "Masking": dict(mask_value=0.0),
    "Embedding": dict(mask_zero=False),
    "BatchNormalization": dict(axis=-1, center=True, scale=True),
    "LayerNormalization": dict(axis=-1, epsilon=1e-3, center=True, scale=True),
    "UnitNormalization": dict(axis=-1),
    "GroupNormalization": dict(groups=32, axis=-1, epsilon=1e-3, center=True, scale=True),
    "Concatenate": dict(axis=-1),
    "Dot": dict(normalize=False),
    "Merge": dict(mode="sum", concat_axis=-1, dot_axes=-1),
    "LeakyReLU": dict(alpha=0.3),
    "ELU": dict(alpha=1.0),
    "ThresholdedReLU": dict(theta=1.0),
    "ReLU": dict(max_value=None, negative_slope=0.0, threshold=0.0),
    "Softmax": dict(axis=-1),
    "PReLU": dict(),
    "Highway": dict(activation="linear"),
    "MaxoutDense": dict(nb_feature=4),
    "Bidirectional": dict(merge_mode="concat"),
    "TimeDistributed": dict(),
    "SimpleRNN": dict(RNN_DEFAULTS),
    "LSTM": dict(RNN_DEFAULTS, unit_forget_bias=True),
    "GRU": dict(RNN_DEFAULTS),
    "CuDNNLSTM": dict(RNN_DEFAULTS, recurrent_activation="sigmoid"),
    "CuDNNGRU": dict(RNN_DEFAULTS, recurrent_activation="sigmoid", reset_after=True),
    "ConvLSTM1D": dict(RNN_DEFAULTS, unit_forget_bias=True),
    "ConvLSTM2D": dict(RNN_DEFAULTS, unit_forget_bias=True),
    "ConvLSTM3D": dict(RNN_DEFAULTS, unit_forget_bias=True),
    "Rescaling": dict(offset=0.0),
    "Attention": dict(use_scale=False, score_mode="dot", causal=False),
    "AdditiveAttention": dict(use_scale=True, causal=False),
}



@dataclass
class Canon:
    """The canonical description of one stored layer config."""

    kind: str
    params: dict
    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inner_configs: list[dict] = field(default_factory=list)  # wrapper: [forward, backward] or [inner]
    unsupported: str | None = None  # a configuration of a known kind that kstep cannot execute


@dataclass
class Context:
    """What canonicalization needs to know about the file: semantics, overrides, the file's image ordering evidence."""

    sem: Semantics
    assume: dict[str, str]
    image_data_format: str  # the keras.json value assumed for layers that did not store theirs
    image_data_format_fact: Fact


def activation_name(value) -> str:
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


def _tuple(value, rank: int, what: str) -> tuple:
    if isinstance(value, (list, tuple)):
        out = tuple(value)
    else:
        out = (value,) * rank
    if len(out) != rank:
        raise ValueError(f"{what} {value!r} does not have {rank} entries")
    return tuple(_int(v, what) for v in out)


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise ValueError(f"{what} {value!r} is not an integer")
    return int(value)


def _pairs(value, rank: int, what: str) -> tuple:
    """ZeroPadding/Cropping: int, (a, b) per axis, or Keras 1 dict {top_pad, bottom_pad, left_pad, right_pad}."""
    if isinstance(value, dict):
        keys = ("top_pad", "bottom_pad", "left_pad", "right_pad")
        if rank == 2 and all(k in value for k in keys):
            return ((_int(value["top_pad"], what), _int(value["bottom_pad"], what)),
                    (_int(value["left_pad"], what), _int(value["right_pad"], what)))
        raise ValueError(f"{what} {value!r} is not understood")
    if not isinstance(value, (list, tuple)):
        v = _int(value, what)
        return ((v, v),) * rank
    if rank == 1 and len(value) == 2 and not isinstance(value[0], (list, tuple)):
        return ((_int(value[0], what), _int(value[1], what)),)
    if len(value) != rank:
        raise ValueError(f"{what} {value!r} does not have {rank} entries")
    out = []
    for item in value:
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                raise ValueError(f"{what} {value!r} is not (before, after) pairs")
            out.append((_int(item[0], what), _int(item[1], what)))
        else:
            v = _int(item, what)
            out.append((v, v))
    return tuple(out)


def _data_format(raw: dict, kind: str, name: str, ctx: Context, facts: list[Fact]) -> str:
    override = ctx.assume.get(f"layer.{name}.data_format")
    if override:
        facts.append(Fact(f"layer.{name}.data_format", override, Source.OVERRIDE, "--assume"))
        return override
    value = raw.get("data_format", raw.get("dim_ordering"))
    mapped = {"th": "channels_first", "tf": "channels_last", "channels_first": "channels_first",
              "channels_last": "channels_last"}.get(value) if isinstance(value, str) else None
    if mapped:
        return mapped
    fact = ctx.image_data_format_fact
    facts.append(Fact(f"layer.{name}.data_format", ctx.image_data_format,
                      Source.ASSUMED if fact.source != Source.OVERRIDE else Source.OVERRIDE,
                      f"{kind} did not store its image ordering; the keras.json default decides ({fact.why})"))
    return ctx.image_data_format


def canonicalize(class_name: str, config: dict, ctx: Context) -> Canon:
    """Map one stored layer (class name + config dict) to its canonical kind and resolved params.

    Raises ValueError (the caller names the layer and file) when a parameter has an impossible value.
    """
    sem = ctx.sem
    kind = ALIASES.get(class_name, class_name)
    raw = dict(config)
    name = str(raw.get("name", ""))
    facts: list[Fact] = []
    notes: list[str] = []
    if kind != class_name and kind != "Model":
        notes.append(f"{class_name} runs as {kind}")

    p: dict = {}
    for key, value in raw.items():
        if key in ("name", "trainable", "dtype") or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if key in ("init", "inner_init", "W_regularizer", "b_regularizer", "U_regularizer", "W_constraint",
                   "b_constraint", "U_constraint", "activity_regularizer", "beta_init", "gamma_init",
                   "forget_bias_init", "consume_less", "input_dim", "input_length", "dropout_W", "dropout_U"):
            continue
        p[RENAMES.get(key, key)] = value
    if kind == "LeakyReLU" and "negative_slope" in p and "alpha" not in p:
        p["alpha"] = p.pop("negative_slope")
    if class_name in ("Dense", "TimeDistributedDense", "SimpleRNN", "LSTM", "GRU", "MaxoutDense", "CuDNNLSTM",
                      "CuDNNGRU", "Highway") and "output_dim" in p:
        p["units"] = p.pop("output_dim")
    if class_name == "TimeDistributedDense":
        notes.append("Keras 1 TimeDistributedDense: a Dense applied at every time step")
    for k, v in DEFAULTS.get(kind, {}).items():
        p.setdefault(k, v)
    if "activation" in p or kind in CONV_KINDS or kind in RNN_KINDS:
        p["activation"] = activation_name(p.get("activation", "linear"))
    if "recurrent_activation" in p:
        p["recurrent_activation"] = activation_name(p["recurrent_activation"])

    rank = RANK.get(kind)
    if rank is not None:
        _spatial_params(kind, class_name, raw, p, rank, ctx, facts, name)
    if kind == "Flatten":
        _flatten_params(raw, p, ctx, facts, name)
    if kind in ("SimpleRNN", "LSTM", "GRU") or kind in CONV_LSTM_KINDS:
        _rnn_defaults(kind, raw, p, sem, facts, name)
    if kind == "BatchNormalization":
        _bn_params(raw, p, sem, facts, name)
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
        p["target_shape"] = tuple(_int(v, "target_shape") for v in shape)
    if kind == "RepeatVector":
        p["n"] = _int(p.get("n"), "n")
    inner_configs: list[dict] = []
    if kind in WRAPPERS:
        inner_configs = _wrapper_inner(kind, raw, p)
    unsupported = None
    if kind.startswith("LocallyConnected") and p.get("implementation", 1) != 1:
        unsupported = f"implementation={p['implementation']} kernel layout is not read yet (only implementation=1)"
    return Canon(kind, p, facts, notes, inner_configs, unsupported)


def _spatial_params(kind, class_name, raw, p, rank, ctx, facts, name):
    if kind in CONV_KINDS or kind in CONV_LSTM_KINDS:
        if "kernel_size" not in p:
            if rank == 2 and "nb_row" in p:
                p["kernel_size"] = (p.pop("nb_row"), p.pop("nb_col"))
            elif rank == 3 and "kernel_dim1" in p:
                p["kernel_size"] = (p.pop("kernel_dim1"), p.pop("kernel_dim2"), p.pop("kernel_dim3"))
        p.pop("nb_row", None)
        p.pop("nb_col", None)
        p["kernel_size"] = _tuple(p.get("kernel_size"), rank, "kernel_size")
        p["strides"] = _tuple(p.get("strides", 1), rank, "strides")
        p["dilation_rate"] = _tuple(p.get("dilation_rate", 1), rank, "dilation_rate")
        p["padding"] = str(p.get("padding", "valid")).lower()
        p.setdefault("use_bias", True)
        p.setdefault("groups", 1)
        if kind.startswith(("Separable", "Depthwise")):
            p.setdefault("depth_multiplier", 1)
        if kind.endswith("Transpose"):
            op = p.get("output_padding")
            p["output_padding"] = None if op is None else _tuple(op, rank, "output_padding")
            if class_name.startswith("Deconvolution"):
                shape = raw.get("output_shape")
                p["output_shape"] = tuple(shape) if isinstance(shape, (list, tuple)) else None
            else:
                p["output_shape"] = None
        if kind.startswith("LocallyConnected"):
            p.setdefault("implementation", 1)
        if "filters" in p:
            p["filters"] = _int(p["filters"], "filters")
    elif kind in POOL_KINDS:
        p["pool_size"] = _tuple(p.get("pool_size", 2), rank, "pool_size")
        strides = p.get("strides")
        p["strides"] = p["pool_size"] if strides is None else _tuple(strides, rank, "strides")
        p["padding"] = str(p.get("padding", "valid")).lower()
    elif kind.startswith("UpSampling"):
        if rank == 1 and "length" in p:
            p["size"] = p.pop("length")
        p["size"] = _tuple(p.get("size", 2), rank, "size")
        p.setdefault("interpolation", "nearest")
    elif kind.startswith("ZeroPadding"):
        p["padding"] = _pairs(p.get("padding", 1), rank, "padding")
    elif kind.startswith("Cropping"):
        p["cropping"] = _pairs(p.get("cropping", 0), rank, "cropping")
    elif kind.startswith("Global"):
        p.setdefault("keepdims", False)
    if rank == 1 and kind.endswith("1D") and "data_format" not in raw and "dim_ordering" not in raw:
        # 1-D layers in Keras 1/2.0 had no ordering: always (batch, steps, channels).
        p["data_format"] = "channels_last"
    else:
        p["data_format"] = _data_format(raw, kind, name, ctx, facts)
    p.pop("dim_ordering", None)


def _flatten_params(raw, p, ctx, facts, name):
    sem = ctx.sem
    if sem.version < (2, 2, 0):
        p["data_format"] = "channels_last"
        p.pop("dim_ordering", None)
        return
    if raw.get("data_format") in ("channels_first", "channels_last"):
        p["data_format"] = raw["data_format"]
        return
    p["data_format"] = _data_format({}, "Flatten", name, ctx, facts)


def _rnn_defaults(kind, raw, p, sem, facts, name):
    if "recurrent_activation" not in p and kind != "SimpleRNN":
        if sem.generation == "keras1" or (sem.generation == "keras2" and sem.version < (2, 3, 0)):
            value = "hard_sigmoid"
        else:
            value = "sigmoid"
        p["recurrent_activation"] = value
        facts.append(Fact(f"layer.{name}.recurrent_activation", value, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to {value}"))
    if kind == "GRU" and "reset_after" not in p:
        value = sem.generation in ("tf.keras", "keras3")
        p["reset_after"] = value
        facts.append(Fact(f"layer.{name}.reset_after", value, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to reset_after={value}"))
    if "implementation" in p:
        p.pop("implementation")


def _bn_params(raw, p, sem, facts, name):
    if sem.generation == "keras1":
        p.setdefault("mode", 0)  # Keras 1 only: 0 running statistics, 1 per sample, 2 batch statistics
    if "epsilon" not in p:
        v = sem.version
        eps = 1e-3 if v >= (1, 2, 0) else (1e-5 if v >= (1, 0, 8) else 1e-6)
        p["epsilon"] = eps
        facts.append(Fact(f"layer.{name}.epsilon", eps, Source.VERSION_DEFAULT,
                          f"not stored; Keras {sem.keras_version} defaulted to {eps}"))
    axis = p.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    p["axis"] = axis


def _wrapper_inner(kind, raw, p) -> list[dict]:
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
