"""The reference input opened as a SampleSet (kstep.io.samples): ranges of samples read from an .npy or an .npz
(stored or deflated members) equal numpy's own reading, in bounded memory, with the model-input and selection
checks made before any data is read.

The models here are bare ModelSpecs (an InputLayer per input): the reader only needs input names and shapes.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kstep.errors import BadInput
from kstep.io.inputs import read_reference
from kstep.io.samples import SampleSet, open_samples
from kstep.ir import LayerSpec, ModelSpec, TensorRef
from tests.conftest import ROOT


def _model(**inputs: tuple) -> ModelSpec:
    """A model whose inputs are named and shaped (batch axis included) as given."""
    layers = [LayerSpec(n, "InputLayer", "InputLayer", {"batch_input_shape": s}) for n, s in inputs.items()]
    return ModelSpec("m", "Functional", layers, [TensorRef(n) for n in inputs], [])


ONE = _model(x=(None, 3, 4))
TWO = _model(a=(None, 3, 4), b=(None, 5))


def _data(n: int, shape: tuple, dtype="float32", seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 100).astype(dtype)


def _never(*args, **kwargs):
    raise AssertionError("np.load called: the sample reader reads ranges itself")


def _chunks(ss: SampleSet, size: int) -> dict[str, np.ndarray]:
    parts = [ss.read(i, min(i + size, ss.count)) for i in range(0, ss.count, size)]
    return {n: np.concatenate([p[n] for p in parts]) for n in ss.names}


@pytest.mark.parametrize("dtype", ["float32", ">f8", "int16", "uint8", "bool", "float16"])
@pytest.mark.parametrize("fortran", [False, True])
def test_npy_ranges_equal_numpy(tmp_path, monkeypatch, dtype, fortran):
    """Any range of an .npy, C or Fortran order, any number dtype: equal to np.load's, dtype as stored, a fresh
    C-ordered writable array that outlives close()."""
    x = _data(11, (3, 4), dtype)
    np.save(tmp_path / "r.npy", np.asfortranarray(x) if fortran else x)
    want = np.load(tmp_path / "r.npy")
    monkeypatch.setattr(np, "load", _never)
    ss = open_samples(str(tmp_path / "r.npy"), ONE)
    assert (ss.names, ss.count, ss.start, ss.total) == (("x",), 11, 0, 11)
    assert ss.sample_shapes == {"x": (3, 4)} and ss.dtypes == {"x": np.dtype(dtype)}
    assert ss.bytes_per_sample() == 12 * np.dtype(dtype).itemsize
    got = [ss.read(a, b)["x"] for a, b in [(0, 11), (3, 7), (10, 11), (0, 1), (5, 5), (2, 9)]]
    ss.close()
    for arr, (a, b) in zip(got, [(0, 11), (3, 7), (10, 11), (0, 1), (5, 5), (2, 9)]):
        assert arr.dtype == np.dtype(dtype) and arr.flags.c_contiguous and arr.flags.writeable
        assert not isinstance(arr, np.memmap) and arr.flags.owndata
        np.testing.assert_array_equal(arr, want[a:b])


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("fortran", [False, True])
def test_npz_multi_input_stored_and_deflated(tmp_path, monkeypatch, compressed, fortran):
    """A two-input .npz written by np.savez (stored members, read in place) or np.savez_compressed (inflated
    forward), in chunks of 3 (11 samples: the last chunk short) -> exactly np.load's arrays."""
    a, b = _data(11, (3, 4), seed=1), _data(11, (5,), "int32", seed=2)
    order = np.asfortranarray if fortran else np.ascontiguousarray
    (np.savez_compressed if compressed else np.savez)(tmp_path / "r.npz", b=order(b), a=order(a), extra=np.arange(3))
    with zipfile.ZipFile(tmp_path / "r.npz") as zf:
        kinds = {i.compress_type for i in zf.infolist()}
    assert kinds == {zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED}
    monkeypatch.setattr(np, "load", _never)
    with open_samples(str(tmp_path / "r.npz"), TWO) as ss:
        assert ss.names == ("a", "b") and ss.count == 11 and ss.sample_shapes == {"a": (3, 4), "b": (5,)}
        assert ss.bytes_per_sample() == 12 * 4 + 5 * 4
        got = _chunks(ss, 3)
        again = ss.read(2, 4)
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)
    np.testing.assert_array_equal(again["b"], b[2:4])


def _lie_size(raw: bytearray) -> None:
    """Add 16 to the uncompressed size the central directory declares for the archive's one member."""
    pos = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, pos + 24, struct.unpack_from("<I", raw, pos + 24)[0] + 16)


class _Counting:
    """Counts the bytes every open deflated member inflates (ZipExtFile.read, which its seek uses too)."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        real = zipfile.ZipExtFile.read

        def read(fh, n=-1):
            data = real(fh, n)
            self.bytes += len(data)
            return data
        monkeypatch.setattr(zipfile.ZipExtFile, "read", read)


def test_deflated_member_sequential_is_one_pass_backward_restarts(tmp_path, monkeypatch):
    """Sequential chunks of a deflated member inflate it once (O(total), not O(total x chunks)); a backward read
    restarts the stream and still equals np.load; a forward jump skips."""
    x = _data(200, (3, 4))
    np.savez_compressed(tmp_path / "r.npz", x=x)
    ss = open_samples(str(tmp_path / "r.npz"), ONE)
    counted = _Counting(monkeypatch)
    np.testing.assert_array_equal(_chunks(ss, 7)["x"], x)
    member = x.nbytes
    assert member <= counted.bytes < member + 1024, (counted.bytes, member)
    counted.bytes = 0
    np.testing.assert_array_equal(ss.read(10, 20)["x"], x[10:20])  # backwards: inflates 0..20 again
    assert 20 * 48 <= counted.bytes < 20 * 48 + 1024
    counted.bytes = 0
    np.testing.assert_array_equal(ss.read(20, 21)["x"], x[20:21])  # right where the last read ended
    assert counted.bytes == 48
    np.testing.assert_array_equal(ss.read(150, 200)["x"], x[150:200])
    ss.close()


def test_stored_member_read_in_place(tmp_path, monkeypatch):
    """A member np.savez stored uncompressed is read at its offset in the archive, not through zipfile: no byte
    passes through a zip member stream, at open or in reads."""
    x = _data(200, (3, 4))
    np.savez(tmp_path / "r.npz", x=x)
    counted = _Counting(monkeypatch)
    with open_samples(str(tmp_path / "r.npz"), ONE) as ss:
        np.testing.assert_array_equal(ss.read(150, 200)["x"], x[150:])
        np.testing.assert_array_equal(_chunks(ss, 64)["x"], x)
    assert counted.bytes < 256  # the .npy header, checked through zipfile at open


def test_no_batch_axis_is_one_sample(tmp_path):
    """A (3, 4) file for a (batch, 3, 4) input: one sample, noted as today; read_reference gives (1, 3, 4)."""
    x = _data(1, (3, 4))[0]
    np.save(tmp_path / "one.npy", np.asfortranarray(x))
    notes: list[str] = []
    with open_samples(str(tmp_path / "one.npy"), ONE, notes) as ss:
        assert (ss.count, ss.total, ss.sample_shapes["x"]) == (1, 1, (3, 4))
        np.testing.assert_array_equal(ss.read(0, 1)["x"], x[None])
    assert notes == [f"{tmp_path / 'one.npy'}: input 'x' had no batch axis; added one (shape (1, 3, 4))"]
    np.testing.assert_array_equal(read_reference(str(tmp_path / "one.npy"), ONE)["x"], x[None])


@pytest.mark.parametrize("select, start, count", [
    ((2, 5), 2, 3), ((-3, None), 7, 3), ((None, -8), 0, 2), ((None, None), 0, 10), ((9, 10), 9, 1),
    ((-1, None), 9, 1), ((0, 10), 0, 10), ((-10, 1), 0, 1)])
def test_selection_is_a_python_slice(tmp_path, select, start, count):
    """--samples A:B picks what x[A:B] would, noted; read() is relative to the selection."""
    x = _data(10, (3, 4))
    np.save(tmp_path / "r.npy", x)
    notes: list[str] = []
    with open_samples(str(tmp_path / "r.npy"), ONE, notes, select) as ss:
        assert (ss.start, ss.count, ss.total) == (start, count, 10)
        np.testing.assert_array_equal(ss.read(0, ss.count)["x"], x[select[0]:select[1]])
        np.testing.assert_array_equal(ss.read(count - 1, count)["x"], x[start + count - 1][None])
    assert notes == [f"{tmp_path / 'r.npy'}: samples {start}:{start + count} of 10 selected "
                     f"({count} sample{'' if count == 1 else 's'})"]


@pytest.mark.parametrize("select, needle", [
    ((5, 5), "select no sample of the 10"), ((8, 3), "select no sample of the 10"), ((-1, -1), "no sample"),
    ((11, None), "out of range; the file holds 10 samples"), ((-11, None), "holds 10 samples"),
    ((0, 11), "holds 10 samples"), ((None, -12), "holds 10 samples"), ((10, None), "no sample of the 10")])
def test_selection_empty_or_out_of_range_refused(tmp_path, select, needle):
    """A selection that picks nothing, or names a sample outside the file: BadInput naming the file's count."""
    x = _data(10, (3, 4))
    np.savez_compressed(tmp_path / "r.npz", x=x)
    with pytest.raises(BadInput, match=needle):
        open_samples(str(tmp_path / "r.npz"), ONE, select=select)


def test_read_range_checked(tmp_path):
    """read() outside [0, count] of the selection is the caller's bug: ValueError, not a short array."""
    np.save(tmp_path / "r.npy", _data(4, (3, 4)))
    with open_samples(str(tmp_path / "r.npy"), ONE, select=(1, 3)) as ss:
        for a, b in [(-1, 1), (1, 0), (0, 3)]:
            with pytest.raises(ValueError):
                ss.read(a, b)


def test_inputs_with_different_counts_refused(tmp_path):
    """Every input must hold the same number of samples: one line naming both counts."""
    np.savez(tmp_path / "r.npz", a=_data(4, (3, 4)), b=_data(3, (5,)))
    with pytest.raises(BadInput, match="input 'a' has 4 samples but input 'b' has 3"):
        open_samples(str(tmp_path / "r.npz"), TWO)


@pytest.mark.parametrize("arrays, needle", [
    ({"a": np.zeros((0, 3, 4), np.float32), "b": np.zeros((0, 5), np.float32)}, "0 samples, nothing to run"),
    ({"a": np.zeros((2, 3, 5), np.float32), "b": np.zeros((2, 5), np.float32)}, r"the model expects \(batch, 3, 4\)"),
    ({"a": np.zeros((2, 3, 4), np.complex64), "b": np.zeros((2, 5), np.float32)}, "expected numbers"),
    ({"a": np.zeros((2, 3, 4), np.float32)}, "no array for model input 'b'"),
], ids=["empty", "shape", "complex", "missing"])
@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_model_checks_before_data(tmp_path, monkeypatch, arrays, needle, save):
    """0 samples, a shape the model does not take, complex numbers, a missing input: refused from the headers."""
    save(tmp_path / "r.npz", **arrays)
    monkeypatch.setattr(np, "load", _never)
    with pytest.raises(BadInput, match=needle):
        open_samples(str(tmp_path / "r.npz"), TWO)


@pytest.mark.parametrize("patch, needle", [(lambda raw: struct.pack_into("<H", raw, 28, 64), "x.npy"),
                                           (_lie_size, "fewer bytes than its directory entry declares")],
                         ids=["local-extra-length", "directory-size"])
def test_stored_member_forged_refused(tmp_path, patch, needle):
    """A stored member whose local header points past its .npy, or whose directory entry declares 16 bytes more
    than it stores: refused at open, before any sample is read."""
    path = tmp_path / "r.npz"
    np.savez(path, x=_data(4, (3, 4)))
    raw = bytearray(path.read_bytes())
    patch(raw)
    path.write_bytes(bytes(raw))
    with pytest.raises(BadInput, match=needle):
        open_samples(str(path), ONE)


@pytest.mark.parametrize("name", ["r.npy", "r.npz", "c.npz"])
def test_file_cut_after_open_is_bad_input(tmp_path, name):
    """A reference rewritten shorter while open (np.save truncates the same file): a read past its end is one
    BadInput line, not a crash (a memory map would die of SIGBUS here)."""
    path = tmp_path / name
    x = _data(5000, (3, 4))
    np.save(path, x) if name.endswith(".npy") else (np.savez_compressed if name == "c.npz" else np.savez)(path, x=x)
    ss = open_samples(str(path), ONE)
    np.testing.assert_array_equal(ss.read(0, 2)["x"], x[:2])
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with pytest.raises(BadInput, match="cannot be read"):
        ss.read(2, 5000)
    ss.close()


_PEAK = """
import sys
import numpy as np
from kstep.io.inputs import read_reference
from kstep.io.samples import open_samples
from kstep.ir import LayerSpec, ModelSpec, TensorRef
model = ModelSpec("m", "Functional", [LayerSpec("x", "InputLayer", "InputLayer", {"batch_input_shape": (None, 1024)})],
                  [TensorRef("x")], [])
def peak():  # kB; ru_maxrss would carry the forking pytest worker's peak across exec
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")).split()[1])
base = peak()
if sys.argv[2] == "all":
    total = float(read_reference(sys.argv[1], model)["x"].sum(dtype=np.float64))
else:
    total = 0.0
    with open_samples(sys.argv[1], model) as ss:
        for i in range(0, ss.count, 256):
            total += float(ss.read(i, min(i + 256, ss.count))["x"].sum(dtype=np.float64))
print((peak() - base) // 1024, total)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("name", ["big.npy", "big.npz", "bigc.npz"])
def test_chunked_reads_stay_in_bounded_memory(tmp_path, name):
    """A 24 MiB reference read 256 samples (1 MiB) at a time raises the peak RSS by under 12 MiB; read whole
    (read_reference) it raises it by at least 20 MiB (the control: the measure can see the difference)."""
    x = (np.arange(6144 * 1024, dtype=np.float32) % 997).reshape(6144, 1024)  # compresses quickly
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, x)
    else:
        (np.savez_compressed if name == "bigc.npz" else np.savez)(path, x=x)
    want = float(x.sum(dtype=np.float64))
    del x
    grown = {}
    for how in ("chunks", "all"):
        out = subprocess.run([sys.executable, "-c", _PEAK, str(path), how], capture_output=True, text=True,
                             cwd=ROOT, timeout=120, check=True).stdout.split()
        grown[how] = int(out[0])
        assert float(out[1]) == pytest.approx(want, rel=1e-9)
    assert grown["chunks"] < 12 and grown["all"] >= 20, grown


def test_hostile_refs_still_refused_by_open_samples(tmp_path):
    """The hostile reference cases (tests/hostile) are refused by open_samples too, with the same needle."""
    from tests.hostile import make_hostile as mk

    model_path = mk.valid_model(tmp_path)
    from kstep.io.load import open_model

    model = open_model(str(model_path), attach=False).model
    for build in mk.BAD_REFS.values():
        case = build(tmp_path)
        with pytest.raises(BadInput, match=case.needle):
            open_samples(str(case.ref), model)


def test_paths_do_not_leak_descriptors(tmp_path):
    """open_samples closes what it opened when it refuses, and close() closes the rest."""
    import os

    np.savez_compressed(tmp_path / "r.npz", a=_data(4, (3, 4)), b=_data(3, (5,)))
    np.savez(tmp_path / "s.npz", a=_data(4, (3, 4)), b=_data(4, (5,)))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(BadInput):
            open_samples(str(tmp_path / "r.npz"), TWO)
        open_samples(str(tmp_path / "s.npz"), TWO).close()
    assert len(os.listdir("/proc/self/fd")) == before
    assert Path(tmp_path / "r.npz").exists()
