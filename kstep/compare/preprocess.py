"""Provides the closed set of reference-input transforms for `--pre-old` / `--pre-new`, parsed, never evaluated.

    scale:1/255  scale:255  scale:0.5     multiply by a number (a fraction a/b is allowed)
    bgr                                   reverse the channel axis (RGB <-> BGR)
    transpose:0,3,1,2                     permute axes (batch axis included)
    mean:103.939,116.779,123.68           subtract a per-channel (or one) mean
    std:0.229,0.224,0.225                 divide by a per-channel (or one) standard deviation
    caffe  tf  torch                      keras.applications' preprocess_input(x, mode=...), see PRESETS
    undo:caffe  undo:tf  undo:torch       the inverse of a preset (an input already preprocessed otherwise)

The channel axis is axis 1 for a channels_first input and the last axis otherwise (the input's layout tag, as
Keras's data_format). Every arithmetic transform first casts a non-float input to float32, as Keras's
preprocess_input does, so `scale:1/255` on a uint8 reference is not all zeros and `mean:` does not wrap around.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstep.errors import UsageError

NAMES = ("scale", "bgr", "transpose", "mean", "std", "caffe", "tf", "torch", "undo")
KNOWN = "scale:N, bgr, transpose:AXES, mean:M[,M,...], std:S[,S,...], caffe, tf, torch, undo:PRESET"


@dataclass(frozen=True)
class Preset:
    """One mode of keras.applications.imagenet_utils.preprocess_input on a float array, in Keras's order:
    x / divide, then (caffe) the channels reversed, then minus `mean`, then (torch) divided by `std`, per channel.
    The numbers are Keras's own: tf_keras 2.21.0 `tf_keras/src/applications/imagenet_utils.py`,
    `_preprocess_numpy_input` (Keras 3.15 `keras/src/applications/imagenet_utils.py` has the same)."""

    mode: str
    divide: float
    flip: bool
    mean: tuple[float, ...]
    std: tuple[float, ...] = ()

    def keras_call(self, channels_first: bool = False) -> str:
        """The line of Keras code that makes this preset's input from a raw RGB 0..255 array `x`."""
        fmt = ", data_format='channels_first'" if channels_first else ""
        return f"keras.applications.imagenet_utils.preprocess_input(x, mode='{self.mode}'{fmt})"


PRESETS: dict[str, Preset] = {
    "caffe": Preset("caffe", 1.0, True, (103.939, 116.779, 123.68)),
    "tf": Preset("tf", 127.5, False, (1.0,)),
    "torch": Preset("torch", 255.0, False, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
"""The preprocess_input modes: caffe (RGB -> BGR, minus the ImageNet BGR means, no scaling), tf (x / 127.5 - 1,
to [-1, 1]), torch (x / 255, minus the ImageNet RGB means, divided by their standard deviations)."""


@dataclass(frozen=True)
class Transform:
    name: str
    args: tuple

    def __str__(self) -> str:
        if self.name in ("bgr", "caffe", "tf", "torch"):
            return self.name
        if self.name == "undo":
            return f"undo:{self.args[0]}"
        if self.name == "chain":
            return ", ".join(str(t) for t in self.args)
        return f"{self.name}:{','.join(_fmt(a) for a in self.args)}"

    def apply(self, x: np.ndarray, channels_first: bool) -> np.ndarray:
        axis = 1 if channels_first else -1
        if self.name == "bgr":
            return np.flip(x, axis=axis).copy()
        if self.name == "transpose":
            if len(self.args) != x.ndim:
                raise UsageError(f"transform {self}: the input has {x.ndim} axes")
            return np.ascontiguousarray(np.transpose(x, self.args))
        x = as_float(x)
        if self.name == "scale":
            return (x * np.asarray(self.args[0], x.dtype)).astype(x.dtype, copy=False)
        if self.name == "mean":
            return (x - per_channel(self.args, x, axis, str(self))).astype(x.dtype, copy=False)
        if self.name == "std":
            return (x / per_channel(self.args, x, axis, str(self))).astype(x.dtype, copy=False)
        if self.name in PRESETS:
            return preset(x, PRESETS[self.name], axis)
        if self.name == "undo":
            return undo_preset(x, PRESETS[self.args[0]], axis)
        if self.name == "chain":
            return apply_all(x, list(self.args), channels_first)
        raise AssertionError(self.name)


def chain(transforms: tuple[Transform, ...]) -> Transform:
    """Several transforms as one (applied in order; internal, not a --pre-* spelling)."""
    return transforms[0] if len(transforms) == 1 else Transform("chain", tuple(transforms))


def as_float(x: np.ndarray) -> np.ndarray:
    """`x` on a float dtype: a non-float array cast to float32 (Keras's floatx), a float one kept."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def per_channel(values: tuple, x: np.ndarray, axis: int, label: str) -> np.ndarray:
    """`values` (one, or one per channel) in x's dtype, shaped to broadcast along the channel `axis`."""
    v = np.asarray(values, x.dtype)
    if v.size == 1:
        return v.reshape(())
    if x.ndim < 2 or x.shape[axis] != v.size:
        have = x.shape[axis] if x.ndim >= 2 else "no"
        raise UsageError(f"transform {label}: {v.size} values for {have} channels")
    shape = [1] * x.ndim
    shape[axis] = v.size
    return v.reshape(shape)


def preset(x: np.ndarray, p: Preset, axis: int) -> np.ndarray:
    """preprocess_input(x, mode=p.mode) on float `x` with its channel axis at `axis` (new array)."""
    if (p.std or p.flip) and (x.ndim < 2 or x.shape[axis] != 3):
        raise UsageError(f"transform {p.mode}: needs 3 channels (RGB) on axis {axis}, the input is {x.shape}")
    if p.divide != 1.0:
        x = x / np.asarray(p.divide, x.dtype)
    if p.flip:
        x = np.flip(x, axis=axis)
    x = x - per_channel(p.mean, x, axis, p.mode)
    if p.std:
        x = x / per_channel(p.std, x, axis, p.mode)
    return np.ascontiguousarray(x)


def undo_preset(x: np.ndarray, p: Preset, axis: int) -> np.ndarray:
    """The raw RGB 0..255 array that preset `p` turns into float `x` (to rounding)."""
    if p.std:
        x = x * per_channel(p.std, x, axis, f"undo:{p.mode}")
    x = x + per_channel(p.mean, x, axis, f"undo:{p.mode}")
    if p.flip:
        x = np.flip(x, axis=axis)
    if p.divide != 1.0:
        x = x * np.asarray(p.divide, x.dtype)
    return np.ascontiguousarray(x)


def _fmt(value) -> str:
    value = float(value)
    if value.is_integer():
        return str(int(value))
    inv = 1.0 / value if value else 0.0
    if abs(inv - round(inv)) < 1e-6 * abs(inv):
        return f"1/{int(round(inv))}"
    return f"{value:g}"


def _number(text: str, spec: str) -> float:
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"transform {spec!r}: {text!r} is not a number") from None


def parse(spec: str) -> Transform:
    """'scale:1/255' -> Transform('scale', (0.00392...,)); UsageError for anything outside the closed set."""
    name, _, arg = spec.strip().partition(":")
    if name not in NAMES:
        raise UsageError(f"unknown transform {spec!r} (known: {KNOWN})")
    if name in ("bgr", *PRESETS):
        if arg:
            raise UsageError(f"transform {name!r} takes no argument")
        return Transform(name, ())
    if not arg:
        raise UsageError(f"transform {name!r} needs an argument, e.g. "
                         f"{name}:{'caffe' if name == 'undo' else '1/255'}")
    if name == "undo":
        if arg not in PRESETS:
            raise UsageError(f"transform {spec!r}: undo takes a preset ({', '.join(PRESETS)})")
        return Transform("undo", (arg,))
    if name == "scale":
        return Transform("scale", (_number(arg, spec),))
    if name == "transpose":
        try:
            axes = tuple(int(a) for a in arg.split(","))
        except ValueError:
            raise UsageError(f"transform {spec!r}: axes must be integers") from None
        if sorted(axes) != list(range(len(axes))):
            raise UsageError(f"transform {spec!r}: not a permutation of 0..{len(axes) - 1}")
        return Transform("transpose", axes)
    values = tuple(_number(a, spec) for a in arg.split(","))
    if name == "std" and any(v == 0 for v in values):
        raise UsageError(f"transform {spec!r}: a standard deviation of 0")
    return Transform(name, values)


def apply_all(x: np.ndarray, transforms: list[Transform], channels_first: bool) -> np.ndarray:
    """The transforms applied in order (an arithmetic one casts a non-float `x` to float32 first)."""
    for t in transforms:
        x = t.apply(x, channels_first)
    return x
