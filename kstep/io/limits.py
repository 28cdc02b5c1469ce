"""Provides the reader's size limits and the checks that refuse absurd sizes in a model config before anything is
allocated: nesting depth, layer count, integer params, Reshape targets, per-layer expansion, input shapes.

A model file is data and may be hostile: `units=10**12` or an UpSampling `size` of a million must fail with one
line naming the layer, not exhaust memory. Every check raises the `BadInput` that the caller's `fail` makes.
"""

from __future__ import annotations

from typing import Any, Callable

from kstep.errors import BadInput
from kstep.kinds import SpatialParams, info

Fail = Callable[[str], BadInput]

MAX_DEPTH = 32  # nested models, wrappers and inbound-node lists
MAX_LAYERS = 200_000
SIZE_LIMIT = 2**31
MAX_INPUT_ELEMENTS = 2**28  # values per sample of one model input (1 GiB of float32)
EXPANSION_LIMIT = 2**20  # the most one layer may multiply its input's size by (RepeatVector n, UpSampling size, ...)
EXPANDING_KEYS = ("pool_size", "kernel_size", "strides", "dilation_rate", "output_padding")
FLOAT_KEYS = ("epsilon", "mask_value", "theta", "alpha", "scale", "offset", "max_value", "threshold", "negative_slope",
              "stddev", "rate", "momentum", "l1", "l2")


def _expansion(value: Any, pairs: bool) -> int:
    """Product of the integers in `value` (for padding pairs: of 1 + before + after); 0 when not integers."""
    items = value if isinstance(value, (list, tuple)) else [value]
    total = 1
    for item in items:
        if pairs and isinstance(item, (list, tuple)):
            factor = 1
            for v in item:
                if not isinstance(v, int) or isinstance(v, bool):
                    return 0
                factor += abs(v)
        elif isinstance(item, int) and not isinstance(item, bool):
            factor = abs(item) + (1 if pairs else 0)
        else:
            return 0
        total *= max(factor, 1)
    return total


def check_sizes(params: dict[str, Any], name: str, fail: Fail, kind: str = "") -> None:
    """Refuse absurd sizes in a config (units=10**12, a Reshape to 10**15 elements) before anything allocates."""
    def walk(value: Any, key: str) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)) and key not in FLOAT_KEYS:
            if isinstance(value, int) and abs(value) >= SIZE_LIMIT:
                raise fail(f"layer '{name}': {key}={value} is absurdly large")
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
    for key, value in params.items():
        walk(value, key)
    shape = params.get("target_shape")
    if isinstance(shape, (list, tuple)):
        total = 1
        for d in shape:
            if isinstance(d, int) and d > 0:
                total *= d
        if total >= SIZE_LIMIT:
            raise fail(f"layer '{name}': target_shape {tuple(shape)} has {total} elements, absurdly large")
    keys = list(EXPANDING_KEYS)
    spatial = record.spatial if (record := info(kind)) is not None else SpatialParams.NONE
    if kind == "RepeatVector":
        keys.append("n")
    if spatial is SpatialParams.UPSAMPLE:
        keys.append("size")
    if spatial is SpatialParams.PAD:
        keys.append("padding")
    for key in keys:
        if key in params:
            factor = _expansion(params[key], key == "padding")
            if factor > EXPANSION_LIMIT:
                raise fail(f"layer '{name}': {key}={params[key]!r} would multiply the data by {factor}, "
                           "absurdly large")


def check_input_shape(name: str, shape: Any, fail: Fail) -> tuple[int | None, ...] | None:
    """A stored input shape (batch axis first) as a tuple, refused when invalid or absurdly large per sample."""
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31) for d in shape):
        raise fail(f"input '{name}' has an invalid shape {shape!r}")
    shape = tuple(shape)
    total = 1
    for d in shape[1:]:
        total *= d or 1
    if total > MAX_INPUT_ELEMENTS:
        raise fail(f"input '{name}' has shape {shape!r}: {total} values per sample, absurdly large")
    return shape
