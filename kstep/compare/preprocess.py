"""Provides the closed set of reference-input transforms for `--pre-old` / `--pre-new`, parsed, never evaluated.

    scale:1/255  scale:255  scale:0.5     multiply by a number (a fraction a/b is allowed)
    bgr                                   reverse the channel axis (RGB <-> BGR)
    transpose:0,3,1,2                     permute axes (batch axis included)
    mean:103.939,116.779,123.68           subtract a per-channel (or one) mean

The channel axis is axis 1 for a channels_first input and the last axis otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kstep.errors import UsageError

NAMES = ("scale", "bgr", "transpose", "mean")


@dataclass(frozen=True)
class Transform:
    name: str
    args: tuple

    def __str__(self) -> str:
        if self.name == "bgr":
            return "bgr"
        return f"{self.name}:{','.join(_fmt(a) for a in self.args)}"

    def apply(self, x: np.ndarray, channels_first: bool) -> np.ndarray:
        axis = 1 if channels_first else -1
        if self.name == "scale":
            return (x * np.asarray(self.args[0], x.dtype)).astype(x.dtype, copy=False)
        if self.name == "bgr":
            return np.flip(x, axis=axis).copy()
        if self.name == "transpose":
            if len(self.args) != x.ndim:
                raise UsageError(f"transform {self}: the input has {x.ndim} axes")
            return np.ascontiguousarray(np.transpose(x, self.args))
        if self.name == "mean":
            mean = np.asarray(self.args, x.dtype)
            if mean.size > 1:
                shape = [1] * x.ndim
                shape[axis] = mean.size
                if x.shape[axis] != mean.size:
                    raise UsageError(f"transform {self}: {mean.size} means for {x.shape[axis]} channels")
                mean = mean.reshape(shape)
            return (x - mean).astype(x.dtype, copy=False)
        raise AssertionError(self.name)


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
        raise UsageError(f"unknown transform {spec!r} (known: scale:N, bgr, transpose:AXES, mean:M[,M,...])")
    if name == "bgr":
        if arg:
            raise UsageError("transform 'bgr' takes no argument")
        return Transform("bgr", ())
    if not arg:
        raise UsageError(f"transform {name!r} needs an argument, e.g. {name}:1/255")
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
    return Transform("mean", tuple(_number(a, spec) for a in arg.split(",")))


def apply_all(x: np.ndarray, transforms: list[Transform], channels_first: bool) -> np.ndarray:
    for t in transforms:
        x = t.apply(x, channels_first)
    return x
