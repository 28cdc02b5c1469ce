"""Provides `open_samples`: a reference input file (.npy, or .npz keyed by input name) opened as a `SampleSet`, the
model's inputs read a range of samples at a time, so N samples are compared in bounded memory.

Everything is checked from the headers before any data is read (kstep.io.npyfile: bounded header, declared size vs
bytes, zip bombs, pickled objects), then here: numbers only (bool/int/uint/float), each input's shape against the
model's declared input, a missing batch axis (the file is one sample, noted), 0 samples refused, the same number of
samples for every input, the `--samples` selection. Data is read with plain positioned reads (an .npy, or an .npz
member stored uncompressed, read in place at its offset) or, for a compressed .npz member, inflated forward from the
member's start by one stream per input kept where the last read ended (a backwards read restarts it). Not a memory
map: mapped pages would count in the process's RSS, and a file rewritten while open would kill it with SIGBUS.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Protocol, Sequence, cast

import numpy as np

from kstep.errors import BadInput, UsageError
from kstep.io.h5safe import check_regular_file
from kstep.io.images import looks_like_image, open_images
from kstep.io.npyfile import Header, check_npz, npy_header
from kstep.ir import ModelSpec

PIECE = 4 * 2**20  # bytes read from a file or stream at a time (a transient copy of a stream's piece)
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error)


class Source(Protocol):
    """One input's samples as stored: `rows` of `shape` (one sample) and `dtype`, read by ranges of samples."""

    rows: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def read(self, a: int, b: int) -> np.ndarray: ...

    def close(self) -> None: ...


class _Source:
    """One input's stored array, read by samples: `fh` holds the .npy data from byte `base` on, as `rows` samples
    of `shape` (C or Fortran order)."""

    def __init__(self, fh: io.BufferedIOBase, base: int, header: Header, shape: tuple[int, ...], what: str, path: str):
        self.fh, self.base, self.dtype, self.fortran = fh, base, header.dtype, header.fortran
        self.rows, self.shape, self.what, self.path = (header.shape[0] if len(shape) < len(header.shape) else 1,
                                                       shape, what, path)
        self.size = int(np.prod(shape, dtype=np.int64))  # elements of one sample

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) of the file (absolute), a fresh C-ordered array of shape (b - a, *shape)."""
        try:
            return self._fortran(a, b) if self.fortran and self.size > 1 else self._rows(a, b)
        except READ_ERRORS as exc:
            raise BadInput(f"{self.what} cannot be read ({type(exc).__name__}: {str(exc)[:80]}; changed since it "
                           "was opened?)", path=self.path) from None

    def _rows(self, a: int, b: int) -> np.ndarray:
        out = np.empty((b - a, *self.shape), self.dtype)
        self.fh.seek(self.base + a * self.size * self.dtype.itemsize)  # a stream inflates forward (or restarts)
        self._fill(out.reshape(-1).view(np.uint8))
        return out

    def _fortran(self, a: int, b: int) -> np.ndarray:
        """A Fortran-ordered array is stored as its transpose: `size` runs of `rows` values, the sample index
        fastest. Every run is read (one pass over the array per call) and [a, b) kept from each."""
        runs = np.empty((self.size, b - a), self.dtype)
        per = max(1, PIECE // max(1, self.rows * self.dtype.itemsize))  # runs read at a time
        self.fh.seek(self.base)
        block = np.empty((per, self.rows), self.dtype)
        for start in range(0, self.size, per):
            n = min(per, self.size - start)
            self._fill(block[:n].reshape(-1).view(np.uint8))
            runs[start:start + n] = block[:n, a:b]
        return np.array(runs.reshape(*self.shape[::-1], b - a).T, order="C")  # a copy, even when empty

    def _fill(self, view: np.ndarray) -> None:
        """Fill the bytes `view` (uint8, 1-d) from the current position."""
        done = 0
        while done < len(view):
            got = self.fh.readinto(view.data[done:done + PIECE])
            if not got:
                raise EOFError(f"ended {len(view) - done} bytes early")
            done += got

    def close(self) -> None:
        self.fh.close()


@dataclass(frozen=True)
class SampleSet:
    """The selected samples of a reference input file, one open source per model input; `read` them a range at a
    time. `start` is the absolute index in the file of the first selected sample, `count` how many are selected of
    the `total` the file holds. sample_shapes/dtypes: per input, one sample's shape (no batch axis) and the dtype as
    stored. Not thread-safe (one read at a time); `close` (or `with`) releases the files."""

    path: str
    names: tuple[str, ...]
    count: int
    start: int
    total: int
    sample_shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, np.dtype]
    _sources: Mapping[str, Source] = field(repr=False, compare=False)
    _archive: zipfile.ZipFile | None = field(default=None, repr=False, compare=False)

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Selected samples [start, stop) (0 <= start <= stop <= count) of every input, batch axis first: fresh
        in-memory arrays (never views of the file), dtype as stored."""
        if not 0 <= start <= stop <= self.count:
            raise ValueError(f"samples [{start}, {stop}) outside the {self.count} selected")
        return {n: self._sources[n].read(self.start + start, self.start + stop) for n in self.names}

    def bytes_per_sample(self) -> int:
        """Bytes one sample of every input takes as stored."""
        return sum(int(np.prod(s, dtype=np.int64)) * self.dtypes[n].itemsize for n, s in self.sample_shapes.items())

    def close(self) -> None:
        """Close the files (again: nothing)."""
        for src in self._sources.values():
            src.close()
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> SampleSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_samples(path: str, model: ModelSpec, notes: list[str] | None = None,
                 select: tuple[int | None, int | None] | None = None, more: Sequence[str] = (),
                 resize: tuple[int, int] | None = None) -> SampleSet:
    """Open the reference input for `model` after checking every header; `select` = (A, B) keeps samples A:B
    (Python slice semantics, negative from the end). `path` is an .npy, an .npz, an image file (with `more` image
    files: the batch's further samples) or a directory of images (kstep.io.images; `resize` = (H, W) for images).
    `notes` collects what kstep changed or chose (batch axis added, samples selected, how images were read).
    BadInput when the file does not fit the model."""
    notes = notes if notes is not None else []
    names = tuple(ref.layer for ref in model.inputs)
    if os.path.isdir(path):
        return _images(path, more, model, resize, notes, select)
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(12)
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", path=path) from None
    array = magic.startswith((b"\x93NUMPY", b"PK"))
    if more and array:
        raise UsageError(f"several REF paths are image files only; {path} is an array file (give one .npy/.npz)")
    if more or (not array and looks_like_image(path, magic)):
        return _images(path, more, model, resize, notes, select)
    if resize is not None:
        raise UsageError(f"--resize applies to image references; {path} is not an image")
    if magic.startswith(b"\x93NUMPY"):
        if len(names) != 1:
            raise BadInput(f"the model has {len(names)} inputs ({', '.join(names)}); give an .npz keyed by "
                           "input name", path=path)
        return _open(path, model, names, _npy(path), None, notes, select)
    if not magic.startswith(b"PK"):
        raise BadInput("is not a readable .npy/.npz array file or image (no .npy magic, not a zip archive, not an "
                       "image format)", path=path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise BadInput(f"is not a readable .npz archive ({exc})", path=path) from None
    try:
        return _open(path, model, names, _npz(path, zf, names), zf, notes, select)
    except BaseException:
        zf.close()
        raise


def _images(path: str, more: Sequence[str], model: ModelSpec, resize: tuple[int, int] | None, notes: list[str],
            select: tuple[int | None, int | None] | None) -> SampleSet:
    """Image file(s) or a directory of images as the set (kstep.io.images): every header checked, nothing decoded."""
    name, src = open_images(path, more, model, resize, notes)
    start, stop = _selection(select, src.rows, path, notes)
    return SampleSet(path, (name,), stop - start, start, src.rows, MappingProxyType({name: src.shape}),
                     MappingProxyType({name: src.dtype}), MappingProxyType({name: src}))


_Opened = dict[str, tuple[io.BufferedIOBase, int, Header, str]]  # input name -> (file, data base, header, what)


def _npy(path: str) -> _Opened:
    fh = open(path, "rb")
    try:
        header = npy_header(fh, path)
    except BaseException:
        fh.close()
        raise
    return {"": (fh, header.offset, header, "the array")}


def _npz(path: str, zf: zipfile.ZipFile, names: tuple[str, ...]) -> _Opened:
    members = check_npz(zf, path)
    keys = list(members)
    if len(names) == 1 and len(keys) == 1:
        chosen = {names[0]: keys[0]}
    else:
        missing = [n for n in names if n not in members]
        if missing:
            raise BadInput(f"has no array for model input '{missing[0]}' (has: {', '.join(keys)})", path=path)
        chosen = {n: n for n in names}
    opened: _Opened = {}
    try:
        for name, key in chosen.items():
            member = members[key]
            if member is None:
                raise BadInput(f"array '{key}' is not an array (not an .npy member)", path=path)
            if member.data_at is None:
                stream = cast(io.BufferedIOBase, zf.open(member.info))  # a ZipExtFile
                opened[name] = (stream, member.header.offset, member.header, f"array '{key}'")
            else:
                at = member.data_at + member.header.offset
                opened[name] = (open(path, "rb"), at, member.header, f"array '{key}'")
    except BaseException as exc:
        for fh, *_ in opened.values():
            fh.close()
        if isinstance(exc, (zipfile.BadZipFile, OSError, RuntimeError)):
            raise BadInput(f"is not a readable .npz archive ({exc})", path=path) from None
        raise
    return opened


def _open(path: str, model: ModelSpec, names: tuple[str, ...], opened: _Opened, zf: zipfile.ZipFile | None,
          notes: list[str], select: tuple[int | None, int | None] | None) -> SampleSet:
    """Check each opened input against the model (dtype, shape, batch axis, sample counts, selection) -> the set."""
    if "" in opened:
        opened = {names[0]: opened.pop("")}
    try:
        sources: dict[str, _Source] = {}
        for name in names:
            fh, base, header, what = opened[name]
            if header.dtype.kind not in "biuf":
                raise BadInput(f"{what} has dtype {header.dtype}; expected numbers", path=path)
            sample = _sample_shape(header.shape, model.layer(name).params.get("batch_input_shape"), name, path, notes)
            sources[name] = _Source(fh, base, header, sample, what, path)
        total = _common_count(sources, path)
        start, stop = _selection(select, total, path, notes)
    except BaseException:
        for fh, *_ in opened.values():
            fh.close()
        raise
    return SampleSet(path, names, stop - start, start, total,
                     MappingProxyType({n: sources[n].shape for n in names}),
                     MappingProxyType({n: sources[n].dtype for n in names}), MappingProxyType(sources), zf)


def _sample_shape(shape: tuple[int, ...], declared, name: str, path: str, notes: list[str]) -> tuple[int, ...]:
    """One sample's shape; a file without the batch axis (declared rank - 1) is one sample, noted. Refuse a shape
    that contradicts the declared input, an array without any axis, and 0 samples."""
    fit_shape(shape, declared, name, path)
    if declared is not None and len(shape) == len(tuple(declared)) - 1:
        notes.append(f"{path}: input '{name}' had no batch axis; added one (shape {(1, *shape)})")
        return shape
    if not shape:
        raise BadInput(f"input '{name}' has shape (): no sample axis", path=path)
    if shape[0] == 0:
        raise BadInput(f"input '{name}' has shape {shape}: 0 samples, nothing to run (give at least one)", path=path)
    return shape[1:]


def _common_count(sources: dict[str, _Source], path: str) -> int:
    """The number of samples every input holds; BadInput naming two inputs that disagree."""
    first, *rest = sources
    for name in rest:
        if sources[name].rows != sources[first].rows:
            raise BadInput(f"input '{first}' has {sources[first].rows} samples but input '{name}' has "
                           f"{sources[name].rows}; every input needs the same number", path=path)
    return sources[first].rows


def _selection(select: tuple[int | None, int | None] | None, total: int, path: str,
               notes: list[str]) -> tuple[int, int]:
    """The absolute [start, stop) that `select` (a Python slice of the sample axis) picks of `total` samples;
    BadInput when a bound lies outside the file or nothing is selected."""
    if select is None:
        return 0, total
    a, b = select
    shown = f"{'' if a is None else a}:{'' if b is None else b}"
    if any(v is not None and not -total <= v <= total for v in (a, b)):
        raise BadInput(f"samples {shown}: out of range; the file holds {total} samples (0..{total - 1})", path=path)
    start, stop, _ = slice(a, b).indices(total)
    if stop <= start:
        raise BadInput(f"samples {shown} select no sample of the {total} the file holds", path=path)
    notes.append(f"{path}: samples {start}:{stop} of {total} selected ({stop - start} sample"
                 f"{'' if stop - start == 1 else 's'})")
    return start, stop


def fit_shape(shape: tuple[int, ...], declared, name: str, path: str) -> None:
    """Refuse a shape that contradicts the declared input shape (a missing batch axis is allowed)."""
    if declared is None:
        return
    declared = tuple(declared)
    full = (1,) + tuple(shape) if len(shape) == len(declared) - 1 else tuple(shape)
    if len(full) != len(declared) or any(want is not None and got != want
                                         for got, want in zip(full[1:], declared[1:])):
        raise BadInput(f"input '{name}' has shape {full}; the model expects {_fmt(declared)}", path=path)


def _fmt(shape) -> str:
    return "(" + ", ".join("batch" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + ")"
