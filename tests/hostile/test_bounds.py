"""Limits that bound time and memory before any big allocation (issue 12): HDF5 hard-link DAGs and loops, compressed
datasets that inflate far past their file, forged .npy/.npz headers (format 1.0, 2.0, 3.0), absurd attributes.

Each refusal is exit 2 with one line naming the file; the costly ones run in a subprocess that reports its own peak
RSS (resource.getrusage) and the CPU time of `kstep.cli.main` alone, so the bounds hold under a loaded machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kstep.cli import main
from kstep.errors import BadInput
from kstep.io import inputs
from kstep.io.load import open_model
from tests.hostile import make_bounds as mb
from tests.hostile import make_hostile as mk

RSS_LIMIT_MB = 200

_MEASURED = """
import resource, sys, time
import h5py, numpy
from kstep.cli import main
import kstep.describe, kstep.io.load  # imported before the clock starts: the bound is on the work, not imports
t = time.process_time()
rc = main(sys.argv[1:])
cpu = time.process_time() - t
sys.stdout.flush()
print(f"\\nMEASURED {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} {cpu:.3f}", file=sys.stderr)
sys.exit(rc)
"""


def measured(argv: list[str], timeout: float = 60) -> tuple[int, list[str], int, float]:
    """Run `kstep argv` in a fresh process -> (exit code, stderr lines but the measure, peak RSS MB, CPU s of
    main)."""
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("MEASURED"), proc.stderr[-2000:]
    _, rss, cpu = lines[-1].split()
    return proc.returncode, lines[:-1], int(rss), float(cpu)


def _one_line(lines: list[str], path: Path, needle: str) -> None:
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and needle in lines[0], lines
    assert "Traceback" not in lines[0]


# --- HDF5 hard links --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, needle", [(mb.k3_link_dag, "more than one hard link"),
                                           (mb.k3_link_loop, "more than one hard link"),
                                           (mb.k3_deep_groups, "deep")])
def test_weights_group_walk_enters_each_group_once(tmp_path, build, needle):
    """A 40-deep DAG of hard links (2**40 paths), a link back to an ancestor, 400 nested groups: refused within a
    second of CPU (before: the DAG never finished, the loop and the nesting ended in a RecursionError)."""
    path = build(tmp_path / "linked.keras")
    rc, lines, rss, cpu = measured(["inspect", str(path)], timeout=30)
    assert rc == 2
    _one_line(lines, path, needle)
    assert cpu < 1.0, cpu  # the refusal itself (imports done before the clock starts)
    assert rss < RSS_LIMIT_MB


def test_real_keras3_archive_still_reads():
    with open_model(str(mb.K3_SMALL)) as mf:
        assert sum(len(spec.weights) for spec in mf.model.layers) > 0


# --- compressed datasets ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    return {"chunk": mb.huge_chunk(mk.valid_model(d, "chunk.h5")),
            "stream": mb.inflating_chunk(mk.valid_model(d, "stream.h5")),
            "declared": mb.huge_gzip_dataset(mk.valid_model(d, "declared.h5")),
            "ref": mk.valid_input(d)}


@pytest.mark.parametrize("case, needle", [("chunk", "chunks of (4, 16777216)"), ("stream", "inflates past"),
                                          ("declared", "declares shape")])
@pytest.mark.parametrize("command", ["inspect", "report"])
def test_compressed_dataset_refused_before_inflating(bombs, case, needle, command):
    """A (4, 3) kernel in one 256 MiB gzip chunk; a 48-byte chunk whose stream inflates to 256 MiB; a kernel
    declaring 20 GB: exit 2 from every command, one line, peak RSS under 200 MB (before: the first two were read,
    at 300+ MB, and `report` said the models agree)."""
    path = bombs[case]
    argv = ["inspect", str(path)] if command == "inspect" else ["report", str(path), str(path), str(bombs["ref"])]
    rc, lines, rss, _ = measured(argv)
    assert rc == 2
    _one_line(lines, path, needle)
    assert rss < RSS_LIMIT_MB, rss


def test_compressed_dataset_that_is_honest_reads(tmp_path):
    """gzip + shuffle + fletcher32 weights (what h5py writes when asked) read as before."""
    import h5py

    path = mk.valid_model(tmp_path)
    with h5py.File(path, "a") as f:
        g = f["model_weights/dense/dense"]
        kernel = g["kernel:0"][()]
        del g["kernel:0"]
        g.create_dataset("kernel:0", data=kernel, chunks=(2, 3), compression="gzip", shuffle=True, fletcher32=True)
    with open_model(str(path)) as mf:
        np.testing.assert_array_equal(mf.model.layer("dense").weights[0].load(), kernel)


# --- .npy / .npz headers ------------------------------------------------------------------------------------------

def _model(tmp_path):
    return open_model(str(mk.valid_model(tmp_path)), attach=False).model


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_every_format_version_reads(tmp_path, version):
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    header = {"descr": "<f4", "fortran_order": False, "shape": (2, 4)}
    path = tmp_path / "x.npy"
    path.write_bytes(mb.npy_bytes(header, data.tobytes(), version))
    feeds = inputs.read_reference(str(path), _model(tmp_path))
    np.testing.assert_array_equal(feeds["x"], data)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_forged_shape_refused_before_numpy(tmp_path, version, monkeypatch):
    """A header declaring 4 x 10**9 floats over 64 bytes: refused from the header, numpy never called (before,
    version 3.0 was passed to numpy unchecked)."""
    path = tmp_path / "forged.npy"
    path.write_bytes(mb.npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (4, 10**9)}, bytes(64), version))
    monkeypatch.setattr(np, "load", _never)
    with pytest.raises(BadInput, match="declares shape"):
        inputs.read_reference(str(path), _model(tmp_path))


@pytest.mark.parametrize("raw, needle", [
    (mb.npy_bytes(b"{}", version=(4, 0)), "unknown format version 4.0"),
    (mb.npy_bytes(b"{'descr': '<f4'}", version=(3, 0), length=2**32 - 1), "over"),
    (mb.npy_bytes(b"__import__('os')", version=(3, 0)), "not a Python literal"),
    (mb.npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4)}"), "not a tuple of sizes"),
    (mb.npy_bytes(b"{'descr': 'zz9', 'fortran_order': False, 'shape': (2, 4)}", version=(3, 0)), "not a dtype"),
], ids=["version-4.0", "header-4GiB", "code", "negative-dim", "bad-descr"])
def test_npy_bad_header_refused(tmp_path, raw, needle, monkeypatch):
    path = tmp_path / "bad.npy"
    path.write_bytes(raw)
    monkeypatch.setattr(np, "load", _never)
    with pytest.raises(BadInput, match=needle):
        inputs.read_reference(str(path), _model(tmp_path))


def test_input_shape_checked_from_the_header(tmp_path, monkeypatch):
    """(2, 7) against the model's (batch, 4): refused from the header alone, .npy and .npz alike."""
    model = _model(tmp_path)
    np.save(tmp_path / "s.npy", np.zeros((2, 7), np.float32))
    np.savez_compressed(tmp_path / "s.npz", x=np.zeros((2, 7), np.float32))
    monkeypatch.setattr(np, "load", _never)
    for name in ("s.npy", "s.npz"):
        with pytest.raises(BadInput, match=r"has shape \(2, 7\); the model expects \(batch, 4\)"):
            inputs.read_reference(str(tmp_path / name), model)


def test_npz_member_forged_header_streamed(tmp_path, monkeypatch):
    """An .npz member (format 3.0) whose header declares 16 GB over a few bytes: refused from the streamed
    header."""
    import zipfile

    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", mb.npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (4, 10**9)},
                                          bytes(64), (3, 0)))
    monkeypatch.setattr(np, "load", _never)
    with pytest.raises(BadInput, match="declares shape"):
        inputs.read_reference(str(path), _model(tmp_path))


def _never(*args, **kwargs):
    raise AssertionError("numpy read the data before kstep checked the header")


# --- absurd attributes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, needle", [
    ("keras_version", b"1" * 10**6, "is not a Keras version"),
    ("keras_version", b"2." + b"9" * 5000, "is not a Keras version"),
    ("keras_version", 5, "expected a string"),
    ("keras_version", np.arange(10), "expected a string"),
    ("backend", b"t" * 10**6, "unknown backend"),
    ("model_config", np.zeros((300, 300)), "expected a string"),
], ids=["version-million-digits", "version-5000-digits", "version-int", "version-array", "backend-huge",
        "config-array"])
def test_absurd_attribute_is_one_line(tmp_path, capsys, name, value, needle):
    """A million-digit version used to end in int()'s ValueError traceback; a million-character backend printed a
    megabyte line."""
    path = mb.absurd_attribute(mk.valid_model(tmp_path), tmp_path / "absurd.h5", name, value)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and needle in err[0], err
    assert len(err[0]) < 400


def test_absurd_version_in_keras_archive(tmp_path, capsys):
    path = mb.k3_metadata_version(tmp_path / "v.keras", "3." + "1" * 10**6)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "is not a Keras version" in err[0], err
