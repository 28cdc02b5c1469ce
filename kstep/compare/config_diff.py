"""Provides `config_diff`: the parameters of two aligned layers whose resolved values differ.

Parameters arrive resolved (kstep.io fills every default for the writer's version), so a difference here is one
the two models really compute with, unless it is a layout-only parameter (layouts are mapped), a key only one
side's Keras stores, or an equivalent spelling (axis -1 vs rank-1, None vs False). An `axis` is compared after
mapping OLD's input layout onto NEW's; a Keras 1 `Merge(mode='concat')` keeps its axis in `concat_axis`, compared as
the `axis` of a Concatenate (`axis_key`). The diagnosis re-runs NEW's layer with each remaining OLD value.
"""

from __future__ import annotations

from kstep.compare.layout import Tag, axis_to_new

IGNORED_PARAMS = frozenset({
    "name", "trainable", "dtype", "batch_input_shape", "input_shape", "build_config", "data_format", "implementation",
    "unroll", "stateful", "time_major", "momentum", "dropout", "recurrent_dropout", "seed", "noise_shape", "rate",
    "mode_type", "output_shape_type", "output_mask_type", "arguments", "output_shape", "output_mask", "sparse",
    "ragged", "autocast", "input_dim", "input_length"})
"""Parameters never compared: names, build and layout facts, training-only settings."""


def axis_key(params: dict) -> str | None:
    """The parameter that holds a layer's axis: `axis`, or a Keras 1 concat Merge's `concat_axis` (None: neither)."""
    if "axis" in params:
        return "axis"
    if params.get("mode") == "concat" and "concat_axis" in params:
        return "concat_axis"
    return None


def _axis_as_axis(params: dict) -> dict:
    """`params` with a concat Merge's `concat_axis` spelled `axis`, so that it compares with a Concatenate's."""
    if axis_key(params) != "concat_axis":
        return params
    out = {k: v for k, v in params.items() if k != "concat_axis"}
    out["axis"] = params["concat_axis"]
    return out


def config_diff(old: dict, new: dict, rank: int | None = None, layout_mapped: bool = False,
                in_tags: tuple[Tag, Tag] | None = None) -> list[tuple[str, object, object]]:
    """Parameters whose resolved values differ. Left out: layout-only parameters (layouts are mapped), keys only
    one side's Keras stores, and equivalent spellings (axis -1 vs rank-1, None vs False). An `axis` is compared
    after mapping OLD's input layout onto NEW's (`in_tags`: the two first inputs' tags): axis 1 of an NCHW tensor
    is axis 3 of the NHWC one; OLD's value is then shown with both readings, e.g. '1 (NCHW; = 3 in NHWC)'. A
    concat Merge's `concat_axis` is reported as `axis`."""
    out: list[tuple[str, object, object]] = []
    old, new = _axis_as_axis(old), _axis_as_axis(new)
    for key in sorted(set(old) & set(new)):
        if key in IGNORED_PARAMS or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        a, b = old[key], new[key]
        if key == "axis" and (layout_mapped or (in_tags and in_tags[0] != in_tags[1])):
            moved = _axis_moved(a, b, rank, in_tags)
            if moved is not None:
                out.append((key, moved, b))
            continue
        if _norm(a, key, rank) != _norm(b, key, rank):
            out.append((key, a, b))
    return out


def _axis_moved(a, b, rank: int | None, in_tags: tuple[Tag, Tag] | None) -> str | None:
    """OLD's axis `a`, mapped into NEW's input layout, when it is not NEW's axis `b` (None when they agree or
    cannot be told apart: no image layouts on both sides, or axes that are lists)."""
    if not rank or in_tags is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        return None
    t_old, t_new = in_tags
    if t_old.kind != "image" or t_new.kind != "image" or t_old.fmt == t_new.fmt:
        return None
    mapped = axis_to_new(a, rank, t_old, t_new)
    if mapped == b % rank:
        return None
    return f"{a} ({t_old}; = {mapped} in {t_new})"


def _norm(value, key: str = "", rank: int | None = None):
    """A value in a form where equivalent spellings compare equal: axes modulo rank and sorted, lists as tuples,
    None as False."""
    if key == "axis" and rank:
        values = value if isinstance(value, (list, tuple)) else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return tuple(sorted(v % rank for v in values))
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if value is None:
        return False
    return value
