"""Provides layout tags for every tensor of a run, and the mappings between two models' layouts.

A tag says how a tensor's axes are laid out: `Image(fmt)` for feature maps in channels_first or channels_last,
`Flat(order, spatial, channels)` for a Flatten of a feature map ('chw' or 'hwc' element order), `Plain()` for
everything else. Comparing OLD and NEW maps NEW's tensor into OLD's layout (`to_old`); feeding OLD's inputs to a NEW
layer maps the other way (`to_new`). The tags follow Keras's own semantics: a Keras >= 2.2 Flatten with
data_format='channels_first' permutes to channels-last before flattening (docs/canonical.md, formats §4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstep.ir import LayerSpec
from kstep.kinds import SpatialParams, info, kinds_where

KEEPS_LAYOUT = kinds_where("keeps_layout")
"""Kinds whose output keeps its first input's layout tag while the rank is unchanged (from kstep.kinds)."""


@dataclass(frozen=True)
class Tag:
    """How a tensor is laid out. kind: plain | image | flat."""

    kind: str = "plain"
    fmt: str = ""  # image: channels_first | channels_last
    order: str = ""  # flat: chw | hwc
    spatial: tuple[int, ...] = ()
    channels: int = 0

    def __str__(self) -> str:
        if self.kind == "image":
            return "NCHW" if self.fmt == "channels_first" else "NHWC"
        if self.kind == "flat":
            return f"flatten({self.order})"
        return "plain"


PLAIN = Tag()


def image(fmt: str) -> Tag:
    return Tag("image", fmt=fmt)


def output_tag(spec: LayerSpec, in_tags: list[Tag], in_shapes: list[tuple], out_shape: tuple) -> Tag:
    """The layout tag of a layer's first output, from its kind, params and its inputs' tags."""
    kind = spec.kind
    first = in_tags[0] if in_tags else PLAIN
    fmt = spec.params.get("data_format")
    if kind == "Flatten":
        if first.kind != "image" or len(in_shapes[0]) < 3:
            return PLAIN
        shape = in_shapes[0]
        if first.fmt == "channels_first":
            spatial, channels = tuple(shape[2:]), shape[1]
            order = "hwc" if fmt == "channels_first" else "chw"
        else:
            spatial, channels = tuple(shape[1:-1]), shape[-1]
            order = "hwc"
        return Tag("flat", order=order, spatial=spatial, channels=channels)
    kind_info = info(kind)
    global_pool = kind_info is not None and kind_info.spatial is SpatialParams.GLOBAL
    if fmt in ("channels_first", "channels_last") and len(out_shape) >= 3 and not global_pool:
        return image(fmt)
    if global_pool and spec.params.get("keepdims") and fmt:
        return image(fmt)
    if kind in KEEPS_LAYOUT:
        return first if len(out_shape) == len(in_shapes[0] if in_shapes else ()) else PLAIN
    return PLAIN


def input_tag(consumers: list[LayerSpec], rank: int) -> Tag:
    """An input's tag: the image ordering of the first image layer that reads it (rank >= 3), else plain."""
    if rank < 3:
        return PLAIN
    for spec in consumers:
        fmt = spec.params.get("data_format")
        if fmt in ("channels_first", "channels_last"):
            return image(fmt)
        if spec.kind == "BatchNormalization":
            axis = spec.params.get("axis")
            if axis == 1:
                return image("channels_first")
    return PLAIN


def moved_input_tag(old: Tag, new: Tag, old_shape: tuple, new_declared: tuple | None) -> Tag:
    """NEW's input tag when its readers do not say (PLAIN, e.g. a Permute reads it) but its declared shape (batch
    axis first) is OLD's image shape (batch axis first) in the other channel order and not OLD's own: that order.
    Else `new` unchanged."""
    if new != PLAIN or old.kind != "image" or not new_declared or len(new_declared) != len(old_shape):
        return new
    as_last = (old_shape[0], *old_shape[2:], old_shape[1])  # OLD's channels_first shape, channels moved last
    as_first = (old_shape[0], old_shape[-1], *old_shape[1:-1])  # OLD's channels_last shape, channels moved first
    moved = as_last if old.fmt == "channels_first" else as_first
    fits = all(d is None or d == m for d, m in zip(new_declared[1:], moved[1:]))
    same = all(d is None or d == o for d, o in zip(new_declared[1:], old_shape[1:]))
    if fits and not same:
        return image("channels_last" if old.fmt == "channels_first" else "channels_first")
    return new


def _flat_perm(tag: Tag) -> np.ndarray:
    """Index array: position i of a 'chw'-ordered flat vector holds element perm[i] of the 'hwc'-ordered one."""
    hw = int(np.prod(tag.spatial)) if tag.spatial else 1
    c = tag.channels
    idx = np.arange(hw * c).reshape(hw, c)  # hwc order: element (p, ch) at p*c + ch
    return idx.T.reshape(-1)  # chw order: (ch, p)


def describe(old: Tag, new: Tag) -> str:
    """How NEW's tensor is mapped onto OLD's layout for comparison ('same' when nothing is done)."""
    if old == new or old.kind != new.kind:
        return "same"
    if old.kind == "image" and old.fmt != new.fmt:
        return f"{new}->{old}".lower()
    if old.kind == "flat" and old.order != new.order:
        return f"flatten({new.order})->flatten({old.order})"
    return "same"


def to_old(x: np.ndarray, old: Tag, new: Tag) -> np.ndarray:
    """NEW's tensor `x` (layout `new`) in OLD's layout `old`."""
    if old.kind == "image" and new.kind == "image" and old.fmt != new.fmt and x.ndim >= 3:
        return np.moveaxis(x, -1, 1) if old.fmt == "channels_first" else np.moveaxis(x, 1, -1)
    if old.kind == "flat" and new.kind == "flat" and old.order != new.order and old.spatial == new.spatial:
        perm = _flat_perm(old)
        return x[..., perm] if old.order == "chw" else x[..., np.argsort(perm)]
    return x


def to_new(x: np.ndarray, old: Tag, new: Tag) -> np.ndarray:
    """OLD's tensor `x` (layout `old`) in NEW's layout `new`."""
    if old.kind == "image" and new.kind == "image" and old.fmt != new.fmt and x.ndim >= 3:
        return np.moveaxis(x, 1, -1) if old.fmt == "channels_first" else np.moveaxis(x, -1, 1)
    if old.kind == "flat" and new.kind == "flat" and old.order != new.order and old.spatial == new.spatial:
        perm = _flat_perm(old)
        return x[..., np.argsort(perm)] if old.order == "chw" else x[..., perm]
    return x


def dense_rows_to_old(kernel: np.ndarray, old: Tag, new: Tag) -> np.ndarray:
    """A Dense kernel (in, units) that reads NEW's flat layout, with rows reordered to read OLD's layout."""
    if old.kind == "flat" and new.kind == "flat" and old.order != new.order and old.spatial == new.spatial:
        perm = _flat_perm(old)
        return kernel[perm] if old.order == "chw" else kernel[np.argsort(perm)]
    return kernel


def axis_to_new(axis: int, rank: int, old: Tag, new: Tag) -> int:
    """OLD's axis index (of a rank-`rank` tensor laid out as `old`) as the same axis of NEW's layout `new`, >= 0.
    Only image layouts in different orderings move axes: channels_first (N, C, ...) <-> channels_last (N, ..., C)."""
    a = axis % rank
    if not (old.kind == "image" and new.kind == "image" and old.fmt != new.fmt) or rank < 3 or a == 0:
        return a
    if old.fmt == "channels_first":  # NEW = moveaxis(OLD, 1, -1)
        return rank - 1 if a == 1 else a - 1
    return 1 if a == rank - 1 else a + 1  # NEW = moveaxis(OLD, -1, 1)
