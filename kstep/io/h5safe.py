"""Provides safe, read-only access to HDF5 files and their Keras attributes.

Files are opened read-only with file locking off. External links are never followed; datasets with external
storage or virtual sources are refused (reading them would read other local files). Attributes come back as
bytes, numpy.bytes_, str, fixed-length `|S` arrays or object arrays depending on the writer's h5py; `attr_str`
and `attr_list` accept all of them, and `attr_list` joins Keras's chunked `NAME0`, `NAME1`, ... attributes.
Before anything is read, a dataset's declared size, chunk size and stored size are checked against the file, and a
deflate stream that inflates past its chunk is refused (`check_dataset`, or `check_dataset_id` on a low-level id;
a contiguous dataset in this file is known from its address and header message types, anything else asks its
creation property list);
`reader` (`reader_at`, given the dataset's path) loads a checked dataset later without keeping it open; `dtype_of`
remembers the few datatypes a file uses (asked once per dataset);
`object_key` lets a walk over groups enter each object once, however many hard links lead to it.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from typing import Callable

import h5py
import numpy as np

from kstep.errors import BadInput

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
LAST_OPENED: str | None = None  # the HDF5 file most recently opened, named if h5py fails deep inside it
MAX_ATTR_CHUNKS = 10_000
MAX_DATASET_RATIO = 200  # declared bytes per byte of file: above this a dataset is mostly fill value (or a bomb)
MAX_INFLATE_RATIO = 1100  # declared bytes per stored byte of one dataset: deflate's best is 1032:1


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
    if isinstance(value, h5py.Empty):
        return []  # a null dataspace holds no names (the weights walk reads it from its size, 0 bytes)
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
    if name and name != "." and "/" not in name:
        return _direct_child(group, name, path, what)
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


def _direct_child(group, name: str, path: str, what: str):
    """`child` for one plain link name, through the low-level API (h5py's `get` and `[]` cost ~10x more: a
    50,000-layer file looks up 150,000 names)."""
    oid = child_id(group.id, name.encode("utf-8"), path, what, name)
    if oid is None:
        return None
    if isinstance(oid, h5py.h5g.GroupID):
        return h5py.Group(oid)
    if isinstance(oid, h5py.h5d.DatasetID):
        return h5py.Dataset(oid)
    return h5py.Datatype(oid)


def child_id(parent, key: bytes, path: str, what: str, name: str = ""):
    """The low-level id (GroupID, DatasetID, TypeID) of `parent`'s child linked as `key` (one plain link name,
    never an external link), or None when absent; `parent` is a low-level GroupID. `name`: for messages."""
    name = name or key.decode("utf-8", "replace")
    try:
        if not parent.links.exists(key):
            return None
        if parent.links.get_info(key).type == h5py.h5l.TYPE_EXTERNAL:
            raise BadInput(f"{what} '{name}' is an external link to another file; not followed", path=path)
        return h5py.h5o.open(parent, key)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInput(f"{what} '{name}' cannot be read ({_first_line(exc)})", path=path) from None


def object_key(obj, path: str, what: str) -> tuple[int, int]:
    """(file number, object header address): the same for every hard link to one object, so a walk that records
    it never enters a group twice (a DAG of links 40 deep would otherwise make 2**40 paths)."""
    try:
        info = h5py.h5o.get_info(obj.id)
        return int(info.fileno), int(info.addr)
    except (OSError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
        raise BadInput(f"{what} cannot be inspected ({_first_line(exc)})", path=path) from None


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
    """Refuse datasets whose data lives outside this file (external storage, virtual datasets) or whose reading
    would allocate far more than the file holds (declared size, chunk size, stored size, inflating chunks)."""
    if not isinstance(ds, h5py.Dataset):
        raise BadInput(f"{what} is a {type(ds).__name__}, not a dataset", path=path)
    try:
        file_size = h5py.h5i.get_file_id(ds.id).get_filesize()
    except (OSError, ValueError, RuntimeError, AttributeError):
        file_size = 0
    check_dataset_id(ds.id, file_size, path, what)


def check_dataset_id(did, file_size: int, path: str, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """`check_dataset` on a low-level DatasetID, the size of its file given (bytes; 0 when unknown): the checks
    one at a time, so that a weights walk asks each dataset only what it must. Returns (shape, dtype)."""
    try:
        dcpl, external, layout, chunks = _storage(did)
        shape, dtype = did.shape, dtype_of(did.get_type())
    except (OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"{what} cannot be inspected ({_first_line(exc)})", path=path) from None
    if external:
        raise BadInput(f"{what} uses external storage (would read another file); refused", path=path)
    if layout == h5py.h5d.VIRTUAL:
        raise BadInput(f"{what} is a virtual dataset (would read other files); refused", path=path)
    if dtype.kind not in "fiub":
        raise BadInput(f"{what} has dtype {dtype}, expected numbers", path=path)
    declared = _nbytes(shape, dtype.itemsize)
    chunk = _nbytes(chunks, dtype.itemsize) if chunks else 0
    if declared > 2**20 and declared > MAX_DATASET_RATIO * file_size:
        raise BadInput(f"{what} declares shape {tuple(shape)} ({declared} bytes) in a file of {file_size} "
                       "bytes; refused (reading it would allocate memory the file does not hold)", path=path)
    if chunk > 2**20 and chunk > MAX_DATASET_RATIO * file_size:
        raise BadInput(f"{what} is stored in chunks of {tuple(chunks or ())} ({chunk} bytes each) in a file of "
                       f"{file_size} bytes; refused (reading one chunk would allocate memory the file does not "
                       "hold)", path=path)
    if declared > 2**20:  # the stored size only bounds datasets above 1 MiB
        try:
            stored = did.get_storage_size()
        except (OSError, ValueError, RuntimeError, AttributeError):
            stored = declared
        if declared > MAX_INFLATE_RATIO * stored:
            raise BadInput(f"{what} declares shape {tuple(shape)} ({declared} bytes) but stores {stored} bytes, "
                           f"more than any compression ({MAX_INFLATE_RATIO}:1) explains; refused", path=path)
    if chunks and dcpl is not None:
        _check_deflate(did, dcpl, chunk, path, what)
    return tuple(int(d) for d in shape), dtype


EFL_MESSAGE = 1 << 0x0007  # H5O_hdr_info_t.mesg.present: bit n is set when a message of type n is in the header


def _storage(did) -> tuple[h5py.h5p.PropDCID | None, bool, int, tuple[int, ...] | None]:
    """(creation property list or None, external storage?, layout, chunk shape or None) of a dataset. A dataset
    whose data has an address in this file (`H5Dget_offset`: contiguous and allocated; chunked, compact and
    virtual datasets have none) and whose object header holds no external-file-list message (a forged header can
    hold both; HDF5 then reads the external files) is answered without its creation property list (~25 us less
    per dataset: a 50,000-layer file has 50,000 datasets); anything else asks the property list."""
    if did.get_offset() is not None and not h5py.h5o.get_info(did).hdr.mesg.present & EFL_MESSAGE:
        return None, False, h5py.h5d.CONTIGUOUS, None
    dcpl = did.get_create_plist()  # one property list for every question (h5py's properties fetch it once each)
    layout = dcpl.get_layout()
    return dcpl, dcpl.get_external_count() > 0, layout, dcpl.get_chunk() if layout == h5py.h5d.CHUNKED else None


_KNOWN_TYPES: list[tuple[h5py.h5t.TypeID, np.dtype]] = []
MAX_KNOWN_TYPES = 16


def dtype_of(tid: h5py.h5t.TypeID) -> np.dtype:
    """numpy's dtype of an HDF5 datatype, remembered: h5py's conversion costs ~2x what `H5Tequal` with the few
    types a file uses does (each dataset of a 50,000-layer file asks). Equal HDF5 types (class, size, order,
    sign, precision, padding, members) convert to equal dtypes."""
    for known, dtype in _KNOWN_TYPES:
        if tid.equal(known):
            return dtype
    dtype = tid.dtype
    if len(_KNOWN_TYPES) < MAX_KNOWN_TYPES:
        _KNOWN_TYPES.append((tid.copy(), dtype))
    return dtype


def _nbytes(shape, itemsize: int) -> int:
    total = itemsize
    for d in shape or ():
        total *= int(d)
    return total


def _check_deflate(did, dcpl, limit: int, path: str, what: str) -> None:
    """Refuse a deflate-compressed dataset any of whose chunks inflates past the chunk size, before HDF5 inflates
    it (its deflate filter grows its buffer for as long as the stream goes on: 20 GB from a 20 MB chunk). Each
    chunk is inflated here in 1 MiB pieces and thrown away, so this costs time, not memory. `limit`: chunk bytes."""
    try:
        filters = [int(dcpl.get_filter(i)[0]) for i in range(dcpl.get_nfilters())]
        if h5py.h5z.FILTER_DEFLATE not in filters:
            return
        k = filters.index(h5py.h5z.FILTER_DEFLATE)
        if any(f != h5py.h5z.FILTER_FLETCHER32 for f in filters[k + 1:]):
            return  # the stored bytes are not the deflate stream itself: the file-size bounds stand alone
        for i in range(did.get_num_chunks()):
            offset = did.get_chunk_info(i).chunk_offset
            mask, raw = did.read_direct_chunk(offset)
            if mask & (1 << k):
                continue  # deflate was skipped for this chunk
            if _inflated_size(raw, limit) > limit:
                raise BadInput(f"{what}: the compressed chunk at {tuple(offset)} inflates past its {limit} bytes; "
                               "refused (a compression bomb)", path=path)
    except (OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise BadInput(f"{what} cannot be read ({_first_line(exc)}); truncated or corrupt?", path=path) from None


def _inflated_size(raw: bytes, limit: int) -> int:
    """The size `raw` (a zlib stream) inflates to, counted up to just past `limit`; a corrupt stream stops the count
    (HDF5 reports it when it reads)."""
    inflater = zlib.decompressobj()
    data, total = raw, 0
    try:
        while True:
            out = inflater.decompress(data, 2**20)
            total += len(out)
            if total > limit:
                return total
            data = inflater.unconsumed_tail
            if inflater.eof or (not data and not out):
                return total
    except zlib.error:
        return total


def reader(ds, path: str, what: str) -> Callable[[], np.ndarray]:
    """A loader of an (already checked) dataset that reopens it by name when called, so that no dataset stays open
    until then: an open HDF5 dataset costs ~20 kB, and a 50,000-layer file has 50,000 of them. Only the file stays
    referenced; after the file is closed the loader fails like a closed dataset would."""
    try:
        fid = h5py.h5i.get_file_id(ds.id)
        name = h5py.h5i.get_name(ds.id)
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInput(f"{what} cannot be read ({_first_line(exc)})", path=path) from None
    return reader_at(fid, name, path, what)


def reader_at(fid, name: bytes, path: str, what: str) -> Callable[[], np.ndarray]:
    """`reader` of the (already checked) dataset at `name` (a path from the root of the file `fid`, a low-level
    FileID): for a walk that knows its datasets' paths (asking HDF5 for each name costs a search)."""
    def load() -> np.ndarray:
        try:
            did = h5py.h5o.open(fid, name)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise BadInput(f"{what} cannot be read ({_first_line(exc)})", path=path) from None
        return read_dataset(did, path, what)
    return load


def read_dataset(ds, path: str, what: str) -> np.ndarray:
    """Read a whole (already checked) dataset, an h5py Dataset or a low-level DatasetID; a corrupt one is a
    BadInput. A plain numeric array is read with one low-level call (h5py's selection machinery costs more than
    reading a small array)."""
    try:
        if isinstance(ds, h5py.h5d.DatasetID):
            shape, dtype = ds.shape, ds.dtype
            if shape and dtype.kind in "fiu" and _nbytes(shape, 1) > 0:  # scalars: h5py gives a numpy scalar
                arr = np.empty(shape, dtype)
                ds.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
                return arr
            ds = h5py.Dataset(ds)
        return ds[()]
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise BadInput(f"{what} cannot be read ({_first_line(exc)}); truncated or corrupt?", path=path) from None
