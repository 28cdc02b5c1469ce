"""Provides `open_images`: image files (PNG, JPEG, BMP, GIF, TIFF, WebP, PNM) as the reference input of a one-input
image model, one image per sample, decoded a range of samples at a time (kstep.io.samples serves them as a
`SampleSet`, so the comparison's chunking bounds the memory as for an .npy).

Pillow is an optional extra (`pip install 'kstep[images]'`), imported here and only when an image is read; without
it, one line naming the extra (exit 2). Every file's header is checked when the set is opened, before any pixel is
decoded: readable by Pillow, at most Pillow's MAX_IMAGE_PIXELS (nothing is allocated from a forged size), no alpha
channel (RGBA, LA, a palette with transparency), 8 bits per channel (16-bit and 32-bit refused), and one size for the
whole batch that fits the model's declared input (or `--resize HxW`, nearest-neighbour). Each image is then read as
Keras's `load_img` does: Pillow's convert('RGB') (convert('L') for a 1-channel model), then the resize, then a float32
array (H, W, C) put in the model's input layout (C, H, W for a channels_first input; `channels_first`, the rule
the comparison uses). No EXIF rotation is applied (load_img applies none); an animated image gives
its first frame.
"""

from __future__ import annotations

import importlib
import os
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

import numpy as np

from kstep.errors import BadInput, UsageError
from kstep.ir import LayerSpec, ModelSpec

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm")
"""File names read as images: a directory's entries are chosen by these (case-insensitive)."""
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
          b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")
"""The first bytes of the image formats above (WebP: RIFF....WEBP, checked apart)."""
EXTRA = "pip install 'kstep[images]'"
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
DEEP_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")
ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


def looks_like_image(path: str, head: bytes) -> bool:
    """True when `head` (a file's first 12 bytes) starts like an image format, or the name ends like one."""
    return (head.startswith(MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or path.lower().endswith(SUFFIXES))


def pillow() -> Any:
    """PIL.Image, imported now (an optional dependency: imported by name, only when an image is read); BadInput
    (one line naming the extra) when Pillow is not installed."""
    try:
        return importlib.import_module("PIL.Image")
    except ImportError:
        raise BadInput(f"reading images needs Pillow, which is not installed: {EXTRA}") from None


def channels_first(model: ModelSpec, name: str) -> bool:
    """Whether input `name` of `model` is laid out channels_first: the first layer reading it (into nested models)
    that has a data_format says so, or a BatchNormalization(axis=1). The rule of kstep.compare.layout.input_tag on
    kstep.compare.trace.consumers, which io cannot import (it lies above io); tests/io/test_images.py checks the two
    agree on every committed model."""
    for spec in _readers(model, name):
        fmt = spec.params.get("data_format")
        if fmt in ("channels_first", "channels_last"):
            return fmt == "channels_first"
        if spec.kind == "BatchNormalization" and spec.params.get("axis") == 1:
            return True
    return False


def _readers(model: ModelSpec, name: str) -> list[LayerSpec]:
    """The layers reading layer `name`'s output, in config order; a nested model is followed by its own readers."""
    out = []
    for spec in model.layers:
        if any(r.layer == name for call in spec.calls for r in call.inputs):
            out.append(spec)
            if spec.kind == "Model" and spec.inner is not None and spec.inner.inputs:
                out.extend(_readers(spec.inner, spec.inner.inputs[0].layer))
    return out


class Channels(Enum):
    """Where one sample's channel axis is: LAST (H, W, C), FIRST (C, H, W), NONE (H, W: a grey input)."""

    LAST = "NHWC"
    FIRST = "NCHW"
    NONE = "NHW"


@dataclass(frozen=True)
class Want:
    """What the model's input takes of an image: height and width (None: any), 1 or 3 channels, the axis order."""

    height: int | None
    width: int | None
    channels: int
    axes: Channels

    def shape(self, h: int, w: int) -> tuple[int, ...]:
        """One sample's shape for an h x w image."""
        return {Channels.LAST: (h, w, self.channels), Channels.FIRST: (self.channels, h, w),
                Channels.NONE: (h, w)}[self.axes]

    def fits(self, h: int, w: int) -> bool:
        return self.height in (None, h) and self.width in (None, w)


def want_of(model: ModelSpec, name: str, path: str, notes: list[str]) -> Want:
    """What input `name` of `model` takes of an image, from its declared shape and its layout tag."""
    declared = model.layer(name).params.get("batch_input_shape")
    if declared is None or len(tuple(declared)) not in (3, 4):
        shown = "no declared shape" if declared is None else f"shape {tuple(declared)}"
        raise BadInput(f"an image feeds a (batch, H, W, C), (batch, C, H, W) or grey (batch, H, W) input; "
                       f"input '{name}' has {shown}", path=path)
    dims = tuple(declared)[1:]
    if len(dims) == 2:
        return Want(dims[0], dims[1], 1, Channels.NONE)
    first = channels_first(model, name)
    c, h, w = (dims[0], dims[1], dims[2]) if first else (dims[2], dims[0], dims[1])
    if c is None:
        notes.append(f"{path}: input '{name}' declares no channel count; images read as RGB (3 channels)")
        c = 3
    if c not in (1, 3):
        raise BadInput(f"input '{name}' takes {c} channels; an image gives 3 (RGB) or 1 (grey)", path=path)
    return Want(h, w, c, Channels.FIRST if first else Channels.LAST)


def image_paths(path: str, more: Sequence[str], notes: list[str]) -> tuple[str, ...]:
    """The image files of the batch in order: `path` and `more` as given, or a directory's images in name order."""
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        is_dir = False
    if not is_dir:
        return (path, *more)
    if more:
        raise UsageError(f"{path} is a directory: give one directory, or image files (not both)")
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise BadInput(f"cannot list the directory: {exc.strerror}", path=path) from None
    chosen = [os.path.join(path, n) for n in names if n.lower().endswith(SUFFIXES) and not n.startswith(".")]
    chosen = [p for p in chosen if os.path.isfile(p)]
    if not chosen:
        raise BadInput(f"is a directory with no image files ({', '.join(SUFFIXES)})", path=path)
    skipped = len(names) - len(chosen)
    notes.append(f"{path}: {len(chosen)} images in name order" + (f" ({skipped} other entries skipped)"
                                                                    if skipped else ""))
    return tuple(chosen)


@dataclass(frozen=True)
class Header:
    """One image file as its header describes it: Pillow's mode and the size in pixels."""

    path: str
    mode: str
    height: int
    width: int


def read_header(image: Any, path: str) -> Header:
    """Check one image file's header (nothing decoded): readable, not a bomb, no alpha, 8 bits per channel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image.DecompressionBombWarning)
            with image.open(path) as im:
                mode, (w, h), info = im.mode, im.size, dict(im.info)
                raw = " ".join(str(getattr(t, "args", "")) for t in (im.tile or []))
    except (image.DecompressionBombError, image.DecompressionBombWarning):
        raise BadInput(f"is over Pillow's limit of {image.MAX_IMAGE_PIXELS} pixels (a decompression bomb?); "
                       "refused before decoding", path=path) from None
    except ERRORS as exc:
        raise BadInput(f"is not a readable image ({_why(exc)})", path=path) from None
    if w * h > image.MAX_IMAGE_PIXELS or w < 1 or h < 1:
        raise BadInput(f"declares {w}x{h} pixels, outside 1..{image.MAX_IMAGE_PIXELS}; refused before decoding",
                       path=path)
    if mode in ALPHA_MODES or (mode == "P" and "transparency" in info):
        raise BadInput(f"has an alpha channel (mode {mode}{', palette transparency' if mode == 'P' else ''}); "
                       "kstep does not guess how to drop it: save it as RGB", path=path)
    if mode in DEEP_MODES or ";16" in raw:
        raise BadInput(f"has more than 8 bits per channel (mode {mode}{', 16-bit' if ';16' in raw else ''}); "
                       "save it with 8 bits per channel", path=path)
    return Header(path, mode, h, w)


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:80] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _hw(text: tuple[int, int]) -> str:
    return f"{text[0]}x{text[1]}"


class ImageSource:
    """The samples of one model input, one image file each, decoded when read. rows: the images; shape: one
    sample's shape in the model's layout; dtype: float32 (the pixel values 0..255, as keras img_to_array gives)."""

    dtype = np.dtype(np.float32)

    def __init__(self, image: Any, headers: Sequence[Header], want: Want, size: tuple[int, int]):
        self.image, self.headers, self.want, self.size = image, tuple(headers), want, size
        self.rows, self.shape = len(self.headers), want.shape(*size)
        self.mode = "L" if want.channels == 1 else "RGB"

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b): a fresh float32 array (b - a, *shape)."""
        out = np.empty((b - a, *self.shape), self.dtype)
        for i in range(a, b):
            out[i - a] = self._one(self.headers[i])
        return out

    def _one(self, head: Header) -> np.ndarray:
        try:
            with self.image.open(head.path) as im:
                if (im.mode, im.size) != (head.mode, (head.width, head.height)):
                    raise BadInput("changed since it was opened", path=head.path)
                im.load()
                pic = im.convert(self.mode) if im.mode != self.mode else im
                if (head.height, head.width) != self.size:
                    pic = pic.resize(self.size[::-1], self.image.Resampling.NEAREST)
                arr = np.asarray(pic, dtype=np.uint8)
        except ERRORS as exc:
            raise BadInput(f"is not a readable image ({_why(exc)})", path=head.path) from None
        if self.want.axes is Channels.FIRST:
            return arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None]
        return arr[..., None] if self.want.axes is Channels.LAST and arr.ndim == 2 else arr

    def close(self) -> None:
        """Nothing stays open between reads."""


def open_images(path: str, more: Sequence[str], model: ModelSpec, resize: tuple[int, int] | None,
                notes: list[str]) -> tuple[str, ImageSource]:
    """The image file(s) `path` (+ `more`, or a directory) as input (name, source) of one-input `model`, every header
    checked; `notes` says how they were read. BadInput/UsageError (one line) for anything refused."""
    if len(model.inputs) != 1:
        raise BadInput(f"the model has {len(model.inputs)} inputs; images feed a model with one input (give an "
                       ".npz keyed by input name)", path=path)
    name = model.inputs[0].layer
    paths = image_paths(path, more, notes)
    for p in paths:
        if not os.path.isfile(p):
            raise BadInput("no such file" if not os.path.exists(p) else "is not a regular file", path=p)
    want = want_of(model, name, path, notes)
    image = pillow()
    headers = [read_header(image, p) for p in paths]
    sizes = {(h.height, h.width) for h in headers}
    if resize is None and len(sizes) > 1:
        a, b = headers[0], next(h for h in headers if (h.height, h.width) != (headers[0].height, headers[0].width))
        raise BadInput(f"the images of one batch need one size (or --resize HxW): {a.path} is {a.height}x{a.width} "
                       f"but {b.path} is {b.height}x{b.width} (HxW)")
    size = resize or next(iter(sizes))
    if not want.fits(*size):
        model_hw = f"{want.height or '?'}x{want.width or '?'}"
        fix = f"give --resize {model_hw}" if resize is None else f"--resize {_hw(resize)} does not fit"
        raise BadInput(f"image is {_hw(size)} (HxW) but input '{name}' takes {model_hw}: {fix}", path=path)
    src = ImageSource(image, headers, want, size)
    shown = "1 image" if len(paths) == 1 else f"{len(paths)} images"
    notes.append(f"{path}: {shown} read as {src.mode} 0..255, cast to float32, laid out {want.axes.value} for "
                 f"input '{name}'")
    for hw in sorted(s for s in sizes if s != size):
        notes.append(f"{path}: resized {_hw(hw)} -> {_hw(size)} (HxW, nearest-neighbour, --resize)")
    grey = sorted({h.mode for h in headers if h.mode in ("L", "1")})
    if src.mode == "RGB" and grey:
        notes.append(f"{path}: grey image(s) repeated on 3 channels (Pillow convert('RGB'), as keras load_img)")
    if src.mode == "L" and any(h.mode not in ("L", "1") for h in headers):
        notes.append(f"{path}: colour image(s) converted to grey (Pillow convert('L'): L = 0.299 R + 0.587 G + "
                     "0.114 B, as keras load_img(color_mode='grayscale'))")
    return name, src
