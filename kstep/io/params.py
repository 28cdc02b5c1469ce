"""Provides the parsing of spatial layer parameters: integers, `rank`-tuples, (before, after) pairs and the image
ordering of one layer, each checked so that a hostile config fails with a ValueError naming the parameter.

`spatial_params` fills the parameters the kind's `SpatialParams` (kstep.kinds) names: kernel_size / strides /
dilation_rate / padding for kernel layers, pool_size for pools, size for UpSampling, (before, after) pairs for
ZeroPadding and Cropping (Keras 1 dict form included), keepdims for global pools, and `data_format` for all of them.
`flatten_params` gives Flatten its `data_format` by the writer's version (../shared/docs/keras-formats.md §4.5).
"""

from __future__ import annotations

import math
from typing import Any

from kstep.io.context import Context
from kstep.ir import Fact, Source
from kstep.kinds import KINDS, ConvForm, KindInfo, SpatialParams

ORDERINGS = {"th": "channels_first", "tf": "channels_last", "channels_first": "channels_first",
             "channels_last": "channels_last"}


def as_int(value: Any, what: str) -> int:
    """A finite whole number (int or float) as int; ValueError naming `what` otherwise (bool included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise ValueError(f"{what} {value!r} is not an integer")
    return int(value)


def as_tuple(value: Any, rank: int, what: str, minimum: int | None = None) -> tuple[int, ...]:
    """An int (repeated) or a list of `rank` ints -> a `rank`-tuple of ints (each >= `minimum` when given)."""
    out = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(out) != rank:
        raise ValueError(f"{what} {value!r} does not have {rank} entries")
    ints = tuple(as_int(v, what) for v in out)
    if minimum is not None and any(v < minimum for v in ints):
        raise ValueError(f"{what} {value!r} has an entry below {minimum}")
    return ints


def as_pairs(value: Any, rank: int, what: str) -> tuple[tuple[int, int], ...]:
    """ZeroPadding/Cropping: int, (a, b) per axis, or Keras 1 dict {top_pad, bottom_pad, left_pad, right_pad}."""
    if isinstance(value, dict):
        keys = ("top_pad", "bottom_pad", "left_pad", "right_pad")
        if rank == 2 and all(k in value for k in keys):
            return ((as_int(value["top_pad"], what), as_int(value["bottom_pad"], what)),
                    (as_int(value["left_pad"], what), as_int(value["right_pad"], what)))
        raise ValueError(f"{what} {value!r} is not understood")
    if not isinstance(value, (list, tuple)):
        v = as_int(value, what)
        return ((v, v),) * rank
    if rank == 1 and len(value) == 2 and not isinstance(value[0], (list, tuple)):
        return ((as_int(value[0], what), as_int(value[1], what)),)
    if len(value) != rank:
        raise ValueError(f"{what} {value!r} does not have {rank} entries")
    out = []
    for item in value:
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                raise ValueError(f"{what} {value!r} is not (before, after) pairs")
            out.append((as_int(item[0], what), as_int(item[1], what)))
        else:
            v = as_int(item, what)
            out.append((v, v))
    return tuple(out)


def data_format(raw: dict[str, Any], kind: str, name: str, ctx: Context, facts: list[Fact]) -> str:
    """The layer's image ordering: `--assume layer.NAME.data_format`, else stored, else the keras.json default."""
    override = ctx.assume.get(f"layer.{name}.data_format")
    if override:
        facts.append(Fact(f"layer.{name}.data_format", override, Source.OVERRIDE, "--assume"))
        return override
    value = raw.get("data_format", raw.get("dim_ordering"))
    mapped = ORDERINGS.get(value) if isinstance(value, str) else None
    if mapped:
        return mapped
    fact = ctx.image_data_format_fact
    facts.append(Fact(f"layer.{name}.data_format", ctx.image_data_format,
                      Source.ASSUMED if fact.source != Source.OVERRIDE else Source.OVERRIDE,
                      f"{kind} did not store its image ordering; the keras.json default decides ({fact.why})"))
    return ctx.image_data_format


def spatial_params(record: KindInfo, class_name: str, raw: dict[str, Any], p: dict[str, Any], ctx: Context,
                   facts: list[Fact], name: str) -> None:
    """Fill `p` (renamed params of a kind with a spatial rank) with its spatial tuples and its data_format."""
    kind, rank = record.kind, record.rank
    assert rank is not None
    if record.spatial is SpatialParams.KERNEL:
        _kernel_params(kind, class_name, raw, p, rank)
    elif record.spatial is SpatialParams.POOL:
        p["pool_size"] = as_tuple(p.get("pool_size", 2), rank, "pool_size", minimum=1)
        strides = p.get("strides")
        p["strides"] = p["pool_size"] if strides is None else as_tuple(strides, rank, "strides", minimum=1)
        p["padding"] = str(p.get("padding", "valid")).lower()
    elif record.spatial is SpatialParams.UPSAMPLE:
        if rank == 1 and "length" in p:
            p["size"] = p.pop("length")
        p["size"] = as_tuple(p.get("size", 2), rank, "size")
        p.setdefault("interpolation", "nearest")
    elif record.spatial is SpatialParams.PAD:
        p["padding"] = as_pairs(p.get("padding", 1), rank, "padding")
    elif record.spatial is SpatialParams.CROP:
        p["cropping"] = as_pairs(p.get("cropping", 0), rank, "cropping")
    elif record.spatial is SpatialParams.GLOBAL:
        p.setdefault("keepdims", False)
    # 1-D layers of Keras 1/2.0 had no ordering: always (batch, steps, channels). Conv1DTranspose (tf.keras only)
    # always stores one, so a missing one takes the keras.json default like a 2-D layer's.
    if rank == 1 and kind.endswith("1D") and "data_format" not in raw and "dim_ordering" not in raw:
        p["data_format"] = "channels_last"
    else:
        p["data_format"] = data_format(raw, kind, name, ctx, facts)
    p.pop("dim_ordering", None)


def _kernel_params(kind: str, class_name: str, raw: dict[str, Any], p: dict[str, Any], rank: int) -> None:
    """kernel_size (Keras 1 nb_row/nb_col, kernel_dim1..3 included), strides, dilation_rate, padding and the
    per-kind extras of a convolution or ConvLSTM."""
    if "kernel_size" not in p:
        if rank == 2 and "nb_row" in p:
            p["kernel_size"] = (p.pop("nb_row"), p.pop("nb_col"))
        elif rank == 3 and "kernel_dim1" in p:
            p["kernel_size"] = (p.pop("kernel_dim1"), p.pop("kernel_dim2"), p.pop("kernel_dim3"))
    p.pop("nb_row", None)
    p.pop("nb_col", None)
    p["kernel_size"] = as_tuple(p.get("kernel_size"), rank, "kernel_size", minimum=1)
    p["strides"] = as_tuple(p.get("strides", 1), rank, "strides", minimum=1)
    p["dilation_rate"] = as_tuple(p.get("dilation_rate", 1), rank, "dilation_rate", minimum=1)
    p["padding"] = str(p.get("padding", "valid")).lower()
    p.setdefault("use_bias", True)
    p.setdefault("groups", 1)
    form = KINDS[kind].conv_form if kind in KINDS else ConvForm.NONE
    if form in (ConvForm.SEPARABLE, ConvForm.DEPTHWISE):
        p.setdefault("depth_multiplier", 1)
    if form is ConvForm.TRANSPOSED:
        op = p.get("output_padding")
        p["output_padding"] = None if op is None else as_tuple(op, rank, "output_padding")
        if class_name.startswith("Deconvolution"):
            shape = raw.get("output_shape")
            p["output_shape"] = tuple(shape) if isinstance(shape, (list, tuple)) else None
        else:
            p["output_shape"] = None
    if form is ConvForm.LOCAL:
        p.setdefault("implementation", 1)


def flatten_params(raw: dict[str, Any], p: dict[str, Any], ctx: Context, facts: list[Fact], name: str) -> None:
    """Flatten's data_format: channels_last (no permutation) before Keras 2.2, else stored or keras.json's."""
    if not ctx.sem.flatten_has_data_format:
        p["data_format"] = "channels_last"
        p.pop("dim_ordering", None)
        return
    if raw.get("data_format") in ("channels_first", "channels_last"):
        p["data_format"] = raw["data_format"]
        return
    p["data_format"] = data_format({}, "Flatten", name, ctx, facts)
