"""Provides safe, read-only access to HDF5 files and their Keras attributes.

Files are opened read-only with file locking off. External links are never followed; datasets with external
storage or virtual sources are refused (reading them would read other local files). Attributes come back as
bytes, numpy.bytes_, str, fixed-length `|S` arrays or object arrays depending on the writer's h5py; `attr_str`
and `attr_list` accept all of them, and `attr_list` joins Keras's chunked `NAME0`, `NAME1`, ... attributes.
"""

from __future__ import annotations

import io
import os
import stat

import h5py
import numpy as np

from kstep.errors import BadInput

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
LAST_OPENED: str | None = None  # the HDF5 file most recently opened, named if h5py fails deep inside it
MAX_ATTR_CHUNKS = 10_000
MAX_DATASET_RATIO = 200  # declared bytes per byte of file: above this a dataset is mostly fill value (or a bomb)


def check_regular_file(path: str) -> None:
    """Refuse what is not a readable regular file (missing, directory, FIFO, device) before anything opens it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInput("no such file", path=path) from None
    except OSError as exc:
        raise BadInput(f"cannot access: {exc.strerror}", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput("is a directory, not a file", path=path)
    if not stat.S_ISREG(st.st_mode):
        raise BadInput("is not a regular file (FIFO, socket or device)", path=path)
    if st.st_size == 0:
        raise BadInput("is empty", path=path)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", path=path) from None


def is_hdf5(path: str) -> bool:
    """True when the file carries the HDF5 signature at offset 0 or at a user-block offset (512, 1024, ...)."""
    with open(path, "rb") as fh:
        offset = 0
        size = os.fstat(fh.fileno()).st_size
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def open_h5(path: str) -> h5py.File:
    """Open `path` read-only, locking off; one clear BadInput for anything that is not a readable HDF5 file."""
    global LAST_OPENED
    check_regular_file(path)
    if not is_hdf5(path):
        raise BadInput("is not an HDF5 file (no HDF5 signature)", path=path)
    LAST_OPENED = path
    try:
        return h5py.File(path, "r", locking=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"cannot be opened as HDF5 ({_first_line(exc)}); truncated or corrupt?", path=path) from None


def open_h5_bytes(data: bytes, path: str) -> h5py.File:
    """Open an in-memory HDF5 image (a member of a .keras zip) read-only."""
    if not data.startswith(HDF5_SIGNATURE):
        raise BadInput("weights member is not an HDF5 file", path=path)
    try:
        return h5py.File(io.BytesIO(data), "r", locking=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"weights member cannot be opened as HDF5 ({_first_line(exc)})", path=path) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def to_str(value, what: str, path: str) -> str:
    """bytes / numpy.bytes_ / str / 0-d array -> str; anything else is a BadInput naming `what`."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    raise BadInput(f"attribute {what} has type {type(value).__name__}, expected a string", path=path)


def attr_str(obj, name: str, path: str) -> str | None:
    """A string attribute of a group/file, or None when absent."""
    try:
        if name not in obj.attrs:
            return None
        value = obj.attrs[name]
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise BadInput(f"attribute {name} cannot be read ({_first_line(exc)})", path=path) from None
    return to_str(value, name, path)


def _raw_list(obj, name: str, path: str) -> list:
    value = obj.attrs[name]
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return []
        if value.ndim != 1:
            raise BadInput(f"attribute {name} has shape {value.shape}, expected a list", path=path)
        return list(value)
    if isinstance(value, (bytes, np.bytes_, str)):
        return [value]
    raise BadInput(f"attribute {name} has type {type(value).__name__}, expected a list of names", path=path)


def attr_list(obj, name: str, path: str) -> list[str] | None:
    """A list-of-names attribute, joined from Keras's chunks `NAME0`, `NAME1`, ... when needed; None if absent."""
    try:
        if name in obj.attrs:
            items = _raw_list(obj, name, path)
        elif f"{name}0" in obj.attrs:
            items = []
            for i in range(MAX_ATTR_CHUNKS):
                if f"{name}{i}" not in obj.attrs:
                    break
                items.extend(_raw_list(obj, f"{name}{i}", path))
        else:
            return None
    except (OSError, KeyError, TypeError, RuntimeError) as exc:
        raise BadInput(f"attribute {name} cannot be read ({_first_line(exc)})", path=path) from None
    return [to_str(v, name, path) for v in items]


def child(group, name: str, path: str, what: str):
    """`group[name]` without following external links; None when absent."""
    try:
        link = group.get(name, getlink=True)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInput(f"{what} '{name}' cannot be read ({_first_line(exc)})", path=path) from None
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise BadInput(f"{what} '{name}' is an external link to another file; not followed", path=path)
    try:
        return group[name]
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise BadInput(f"{what} '{name}' cannot be read ({_first_line(exc)})", path=path) from None


def resolve(group, dotted: str, path: str, what: str):
    """Walk a '/'-separated name (weight names nest groups) with `child` at every step; None when absent."""
    node = group
    for part in [p for p in dotted.split("/") if p]:
        if not isinstance(node, h5py.Group):
            return None
        node = child(node, part, path, f"{what}, path part")
        if node is None:
            return None
    return node


def check_dataset(ds, path: str, what: str) -> None:
    """Refuse datasets whose data lives outside this file (external storage, virtual datasets)."""
    if not isinstance(ds, h5py.Dataset):
        raise BadInput(f"{what} is a {type(ds).__name__}, not a dataset", path=path)
    try:
        external = ds.external
        virtual = ds.is_virtual
    except (OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"{what} cannot be inspected ({_first_line(exc)})", path=path) from None
    if external:
        raise BadInput(f"{what} uses external storage (would read another file); refused", path=path)
    if virtual:
        raise BadInput(f"{what} is a virtual dataset (would read other files); refused", path=path)
    if ds.dtype.kind not in "fiub":
        raise BadInput(f"{what} has dtype {ds.dtype}, expected numbers", path=path)
    declared = 1
    for d in ds.shape or ():
        declared *= int(d)
    declared *= ds.dtype.itemsize
    try:
        file_size = ds.file.id.get_filesize()
    except (OSError, ValueError, RuntimeError, AttributeError):
        file_size = 0
    if declared > 2**20 and declared > MAX_DATASET_RATIO * file_size:
        raise BadInput(f"{what} declares shape {tuple(ds.shape)} ({declared} bytes) in a file of {file_size} "
                       "bytes; refused (reading it would allocate memory the file does not hold)", path=path)


def read_dataset(ds, path: str, what: str) -> np.ndarray:
    """Read a whole (already checked) dataset; a corrupt one is a BadInput."""
    try:
        return ds[()]
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInput(f"{what} cannot be read ({_first_line(exc)}); truncated or corrupt?", path=path) from None
