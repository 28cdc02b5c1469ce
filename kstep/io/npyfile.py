"""Provides the checked headers of .npy files and .npz members, read before any array data is.

Every .npy header (format 1.0, 2.0 or 3.0) is parsed here with a bounded length (nothing is allocated from it), its
declared size checked against the bytes that follow and pickled objects refused. An .npz member's directory entry is
checked against absurd sizes and zip-bomb ratios; a compressed member is inflated once in 1 MiB pieces to count its
bytes; a stored (ZIP_STORED, what np.savez writes) member gets its data offset in the archive from its local file
header, so it can be read in place like an .npy.
"""

from __future__ import annotations

import ast
import os
import struct
import zipfile
from dataclasses import dataclass
from typing import IO

import numpy as np

from kstep.errors import BadInput

MAX_BYTES = 8 * 2**30
MAX_RATIO = 200  # compression ratio above which a large .npz member is refused as a zip bomb
MAX_HEADER = 65_536  # bytes of one .npy header (numpy's own limit is 10,000)
LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


@dataclass(frozen=True)
class Header:
    """One checked .npy header: the array's shape and dtype as stored, its axis order, and `offset`, the bytes from
    the start of the .npy to its data."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of the array's data."""
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Member:
    """One .npy member of an .npz: its zip entry, its checked header and, when stored uncompressed, `data_at`, the
    absolute offset in the archive of its .npy bytes (None for a compressed member)."""

    info: zipfile.ZipInfo
    header: Header
    data_at: int | None


def read_header(fh: IO[bytes], what: str, path: str) -> Header:
    """The header of the .npy at the current position of `fh`, parsed here for format versions 1.0, 2.0 and 3.0
    (3.0: a UTF-8 header) with its length bounded, so nothing is allocated from it."""
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
    return Header(tuple(shape), dtype, header["fortran_order"], 8 + len(size_bytes) + length)


def check_header(fh: IO[bytes], total: int, what: str, path: str) -> Header:
    """Check the .npy header at the current position of `fh` (the .npy is `total` bytes long); refuse object arrays
    and arrays larger than the bytes after the header, so nothing is ever allocated for a size the file does not
    hold."""
    header = read_header(fh, what, path)
    if header.dtype.hasobject:
        raise BadInput(f"{what} holds pickled Python objects; refused (arrays only, allow_pickle=False)", path=path)
    available = total - header.offset
    if header.nbytes > available:
        raise BadInput(f"{what} declares shape {header.shape} ({header.nbytes} bytes) but holds {max(available, 0)}; "
                       "not a readable .npy array (truncated or forged header)", path=path)
    return header


def npy_header(fh: IO[bytes], path: str) -> Header:
    """The checked header of the .npy file open as `fh` (positioned at its start)."""
    return check_header(fh, os.fstat(fh.fileno()).st_size, "the array", path)


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


def _stored_at(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header: Header, what: str, path: str) -> int:
    """The absolute offset of a stored member's bytes: its local header's offset + 30 + name and extra lengths;
    the bytes there must hold the same .npy header and the whole member must lie inside the archive."""
    assert zf.fp is not None
    fp = zf.fp
    fp.seek(info.header_offset)
    local = fp.read(LOCAL_HEADER)
    if len(local) < LOCAL_HEADER or local[:4] != b"PK\x03\x04":
        raise BadInput(f"{what} has no local file header where its directory entry points", path=path)
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    at = info.header_offset + LOCAL_HEADER + name_len + extra_len
    fp.seek(0, os.SEEK_END)
    if info.compress_size != info.file_size or at + info.file_size > fp.tell():
        raise BadInput(f"{what} holds fewer bytes than its directory entry declares (truncated or forged)",
                       path=path)
    fp.seek(at)
    if read_header(fp, what, path) != header:
        raise BadInput(f"{what}: its stored bytes do not match its header (forged archive)", path=path)
    return at


def check_npz(zf: zipfile.ZipFile, path: str) -> dict[str, Member | None]:
    """Refuse an .npz whose members declare absurd sizes or forged .npy headers, before any data is read.
    -> {key: Member} for each .npy member (key = name without .npy), {name: None} for any other member."""
    members: dict[str, Member | None] = {}
    try:
        for info in zf.infolist():
            what = f"array '{info.filename}'"
            if info.file_size > MAX_BYTES:
                raise BadInput(f"{what} declares {info.file_size} bytes, over the limit of {MAX_BYTES}", path=path)
            if info.file_size > 64 * 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise BadInput(f"{what} has a compression ratio over {MAX_RATIO}: refused (zip bomb?)", path=path)
            if not info.filename.endswith(".npy"):
                members[info.filename] = None
                continue
            with zf.open(info) as fh:
                header = check_header(fh, info.file_size, what, path)
            if info.compress_type == zipfile.ZIP_STORED:
                at: int | None = _stored_at(zf, info, header, what, path)
            else:
                at = None
                if _member_size(zf, info, what, path) < info.file_size:
                    raise BadInput(f"{what} holds fewer bytes than its directory entry declares (truncated or "
                                   "forged)", path=path)
            members[info.filename[:-4]] = Member(info, header, at)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BadInput(f"is not a readable .npz archive ({exc})", path=path) from None
    return members


def save_npz(fh: IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout (one `KEY.npy` member per array, stored), without its keywords, so a key such as `file` or
    `allow_pickle` (a layer or input name) is written like any other; never pickles."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
