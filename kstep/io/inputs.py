"""Provides `read_reference`: a reference input file (.npy, or .npz keyed by input name) -> {input name: array}.

Arrays are read with allow_pickle=False, so object arrays are refused; only bool/int/uint/float arrays pass.
A missing batch axis is added (with a note) when the model's declared input rank says so; a batch of 0 samples is
refused (nothing would run, and every comparison would agree vacuously). NaN and Inf values are allowed (a warning
note when asked). Before numpy reads anything, every .npy header (format 1.0, 2.0 or 3.0) is parsed here with a
bounded length, its declared size checked against the bytes that follow (an .npz member is inflated once in pieces
to count them) and its shape against the model's input.
"""

from __future__ import annotations

import ast
import os
import zipfile

import numpy as np

from kstep.errors import BadInput
from kstep.io.h5safe import check_regular_file
from kstep.ir import ModelSpec

MAX_BYTES = 8 * 2**30
MAX_RATIO = 200  # compression ratio above which a large .npz member is refused as a zip bomb
MAX_HEADER = 65_536  # bytes of one .npy header (numpy's own limit is 10,000)


def _check_array(arr, what: str, path: str) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise BadInput(f"{what} is not an array", path=path)
    if arr.dtype.kind not in "biuf":
        raise BadInput(f"{what} has dtype {arr.dtype}; expected numbers", path=path)
    return arr


def _read_header(fh, what: str, path: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The (shape, dtype, header length) of the .npy header at the start of `fh`, parsed here for format versions
    1.0, 2.0 and 3.0 (3.0: a UTF-8 header) with its length bounded, so nothing is allocated from it."""
    def bad(why: str) -> BadInput:
        return BadInput(f"{what} is not a readable .npy array ({why})", path=path)

    magic = fh.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise bad("no .npy magic")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise bad(f"unknown format version {version[0]}.{version[1]}")
    size_bytes = fh.read(2 if version == (1, 0) else 4)
    if len(size_bytes) != (2 if version == (1, 0) else 4):
        raise bad("truncated header")
    length = int.from_bytes(size_bytes, "little")
    if length > MAX_HEADER:
        raise bad(f"header of {length} bytes, over {MAX_HEADER}")
    raw = fh.read(length)
    if len(raw) < length:
        raise bad("truncated header")
    try:
        text = raw.decode("utf-8" if version == (3, 0) else "latin-1")
        header = ast.literal_eval(text)
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise bad("header is not a Python literal") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise bad("header has not exactly the keys descr, fortran_order, shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise bad(f"shape {shape!r} is not a tuple of sizes")
    if not isinstance(header["fortran_order"], bool):
        raise bad("fortran_order is not a bool")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        raise bad(f"descr {str(header['descr'])[:60]!r} is not a dtype") from None
    return shape, dtype, 8 + len(size_bytes) + length


def _check_header(fh, total: int, what: str, path: str) -> tuple[int, ...]:
    """Check the .npy header at the start of `fh` (`total` bytes long); refuse object arrays and arrays larger than
    the bytes after the header, so numpy never allocates for a size the file does not hold. -> the shape."""
    shape, dtype, offset = _read_header(fh, what, path)
    if dtype.hasobject:
        raise BadInput(f"{what} holds pickled Python objects; refused (arrays only, allow_pickle=False)", path=path)
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= int(d)
    available = total - offset
    if nbytes > available:
        raise BadInput(f"{what} declares shape {tuple(shape)} ({nbytes} bytes) but holds {max(available, 0)}; "
                       "not a readable .npy array (truncated or forged header)", path=path)
    return tuple(shape)


def _member_size(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, path: str) -> int:
    """The bytes a member really inflates to, counted in 1 MiB pieces (its directory entry may lie); refused past
    what it declares."""
    total = 0
    with zf.open(info) as fh:
        while piece := fh.read(2**20):
            total += len(piece)
            if total > info.file_size:
                raise BadInput(f"{what} inflates past the {info.file_size} bytes it declares", path=path)
    return total


def _check_npz(path: str) -> dict[str, tuple[int, ...]]:
    """Refuse an .npz whose members declare absurd sizes, before numpy decompresses anything. -> {key: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                what = f"array '{info.filename}'"
                if info.file_size > MAX_BYTES:
                    raise BadInput(f"{what} declares {info.file_size} bytes, over the limit of {MAX_BYTES}", path=path)
                if info.file_size > 64 * 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                    raise BadInput(f"{what} has a compression ratio over {MAX_RATIO}: refused (zip bomb?)", path=path)
                if info.filename.endswith(".npy"):
                    with zf.open(info) as fh:
                        shape = _check_header(fh, info.file_size, what, path)
                    if _member_size(zf, info, what, path) < info.file_size:
                        raise BadInput(f"{what} holds fewer bytes than its directory entry declares (truncated or "
                                       "forged)", path=path)
                    shapes[info.filename[:-4]] = shape
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BadInput(f"is not a readable .npz archive ({exc})", path=path) from None
    return shapes


def _headers(path: str) -> dict[str, tuple[int, ...]] | None:
    """Check the file's .npy header(s) before numpy reads it: {"": shape} for an .npy, {key: shape} for an .npz,
    None for anything else (numpy then refuses it)."""
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            if head == b"\x93NUMPY":
                fh.seek(0)
                return {"": _check_header(fh, os.fstat(fh.fileno()).st_size, "the array", path)}
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", path=path) from None
    if head.startswith(b"PK"):
        return _check_npz(path)
    return None


def _load(path: str):
    try:
        return np.load(path, allow_pickle=False, mmap_mode=None)
    except ValueError as exc:
        msg = str(exc)
        if "allow_pickle" in msg or "pickle" in msg.lower():
            raise BadInput("holds pickled Python objects; refused (arrays only, allow_pickle=False)",
                           path=path) from None
        raise BadInput(f"is not a readable .npy/.npz array file ({msg.splitlines()[0][:120]})", path=path) from None
    except (OSError, EOFError, zipfile.BadZipFile, MemoryError) as exc:
        raise BadInput(f"is not a readable .npy/.npz array file ({type(exc).__name__})", path=path) from None


def _precheck(shapes: dict[str, tuple[int, ...]] | None, model: ModelSpec, path: str) -> None:
    """Each input's declared shape against the model's input, from the headers alone (before any data is read)."""
    if shapes is None:
        return
    names = [ref.layer for ref in model.inputs]
    if len(names) == 1 and len(shapes) == 1:
        pairs = [(names[0], next(iter(shapes.values())))]
    else:
        pairs = [(n, shapes[n]) for n in names if n in shapes]
    for name, shape in pairs:
        _fit_shape(shape, model.layer(name).params.get("batch_input_shape"), name, path)


def read_reference(path: str, model: ModelSpec, notes: list[str] | None = None,
                   warn_nonfinite: bool = False) -> dict[str, np.ndarray]:
    """Read the reference input for `model`; `notes` collects what kstep changed (batch axis added) and, with
    `warn_nonfinite`, a `warning: ...` note per input holding NaN or Inf (allowed: they propagate as they would
    in Keras)."""
    notes = notes if notes is not None else []
    _precheck(_headers(path), model, path)
    data = _load(path)
    names = [ref.layer for ref in model.inputs]
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise BadInput(f"the model has {len(names)} inputs ({', '.join(names)}); give an .npz keyed by "
                           "input name", path=path)
        feeds = {names[0]: _check_array(data, "the array", path)}
    else:
        with data:
            keys = list(data.keys())
            if len(names) == 1 and len(keys) == 1:
                feeds = {names[0]: _check_array(_member(data, keys[0], path), keys[0], path)}
            else:
                missing = [n for n in names if n not in keys]
                if missing:
                    raise BadInput(f"has no array for model input '{missing[0]}' (has: {', '.join(keys)})",
                                   path=path)
                feeds = {n: _check_array(_member(data, n, path), n, path) for n in names}
    for name in names:
        feeds[name] = _fit_batch(feeds[name], model.layer(name).params.get("batch_input_shape"), name, path, notes)
        x = feeds[name]
        if x.ndim and x.shape[0] == 0:
            raise BadInput(f"input '{name}' has shape {x.shape}: 0 samples, nothing to run (give at least one)",
                           path=path)
        if warn_nonfinite and x.dtype.kind == "f" and not np.isfinite(x).all():
            notes.append(f"warning: {path}: input '{name}' contains {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} Inf values; they propagate through the layers")
    return feeds


def _member(npz, key: str, path: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise BadInput(f"array '{key}' holds pickled Python objects; refused", path=path) from None
        raise BadInput(f"array '{key}' cannot be read ({exc})", path=path) from None
    except (OSError, EOFError, zipfile.BadZipFile, MemoryError) as exc:
        raise BadInput(f"array '{key}' cannot be read ({type(exc).__name__})", path=path) from None


def _fit_batch(arr: np.ndarray, declared, name: str, path: str, notes: list[str]) -> np.ndarray:
    """Add a missing batch axis; refuse a shape that contradicts the declared input shape."""
    if declared is None:
        return arr
    _fit_shape(arr.shape, declared, name, path)
    if arr.ndim == len(tuple(declared)) - 1:
        arr = arr[None]
        notes.append(f"{path}: input '{name}' had no batch axis; added one (shape {arr.shape})")
    return arr


def _fit_shape(shape: tuple[int, ...], declared, name: str, path: str) -> None:
    """Refuse a shape that contradicts the declared input shape (a missing batch axis is allowed)."""
    if declared is None:
        return
    declared = tuple(declared)
    full = (1,) + tuple(shape) if len(shape) == len(declared) - 1 else tuple(shape)
    shown = full if full != tuple(shape) else tuple(shape)
    if len(full) != len(declared) or any(want is not None and got != want
                                         for got, want in zip(full[1:], declared[1:])):
        raise BadInput(f"input '{name}' has shape {shown}; the model expects {_fmt(declared)}", path=path)


def _fmt(shape) -> str:
    return "(" + ", ".join("batch" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + ")"
