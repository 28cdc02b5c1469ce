"""Provides `read_reference`: a reference input file (.npy, or .npz keyed by input name) -> {input name: array}.

Arrays are read with allow_pickle=False, so object arrays are refused; only bool/int/uint/float arrays pass.
A missing batch axis is added (with a note) when the model's declared input rank says so; a batch of 0 samples is
refused (nothing would run, and every comparison would agree vacuously). NaN and Inf values are allowed (a warning
note when asked). Archive members are size-checked before numpy reads them.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from kstep.errors import BadInput
from kstep.io.h5safe import check_regular_file
from kstep.ir import ModelSpec

MAX_BYTES = 8 * 2**30
MAX_RATIO = 200  # compression ratio above which a large .npz member is refused as a zip bomb


def _check_array(arr, what: str, path: str) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise BadInput(f"{what} is not an array", path=path)
    if arr.dtype.kind not in "biuf":
        raise BadInput(f"{what} has dtype {arr.dtype}; expected numbers", path=path)
    return arr


def _check_header(fh, total: int, what: str, path: str) -> None:
    """Read the .npy header at the start of `fh` (`total` bytes long); refuse object arrays and arrays larger than
    the bytes after the header, so numpy never allocates for a size the file does not hold."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            return  # other versions: numpy itself decides below
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise BadInput(f"{what} is not a readable .npy array ({str(exc).splitlines()[0][:120] if str(exc) else ''})",
                       path=path) from None
    if dtype.hasobject:
        raise BadInput(f"{what} holds pickled Python objects; refused (arrays only, allow_pickle=False)", path=path)
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= int(d)
    available = total - fh.tell()
    if nbytes > available:
        raise BadInput(f"{what} declares shape {tuple(shape)} ({nbytes} bytes) but holds {max(available, 0)}; "
                       "not a readable .npy array (truncated or forged header)", path=path)


def _check_npz(path: str) -> None:
    """Refuse an .npz whose members declare absurd sizes, before numpy decompresses anything."""
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
                        _check_header(fh, info.file_size, what, path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BadInput(f"is not a readable .npz archive ({exc})", path=path) from None


def _load(path: str):
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            if head == b"\x93NUMPY":
                fh.seek(0)
                _check_header(fh, os.fstat(fh.fileno()).st_size, "the array", path)
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", path=path) from None
    if head.startswith(b"PK"):
        _check_npz(path)
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


def read_reference(path: str, model: ModelSpec, notes: list[str] | None = None,
                   warn_nonfinite: bool = False) -> dict[str, np.ndarray]:
    """Read the reference input for `model`; `notes` collects what kstep changed (batch axis added) and, with
    `warn_nonfinite`, a `warning: ...` note per input holding NaN or Inf (allowed: they propagate as they would
    in Keras)."""
    notes = notes if notes is not None else []
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
    declared = tuple(declared)
    if arr.ndim == len(declared) - 1:
        arr = arr[None]
        notes.append(f"{path}: input '{name}' had no batch axis; added one (shape {arr.shape})")
    if arr.ndim != len(declared):
        raise BadInput(f"input '{name}' has shape {arr.shape}; the model expects {_fmt(declared)}", path=path)
    for got, want in zip(arr.shape[1:], declared[1:]):
        if want is not None and got != want:
            raise BadInput(f"input '{name}' has shape {arr.shape}; the model expects {_fmt(declared)}", path=path)
    return arr


def _fmt(shape) -> str:
    return "(" + ", ".join("batch" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + ")"
