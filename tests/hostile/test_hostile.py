"""Hostile and broken inputs: every command gives one line on stderr naming the file and the problem, exit 2, no
traceback, quickly, and the input files are byte-identical afterwards. Files are generated at test time
(tests/hostile/make_hostile.py). Commands: inspect, dump, report (the app validates exactly like report)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from kstep.cli import main
from tests.hostile import make_hostile as mk

TIME_LIMIT = 10.0


def _snapshot(paths):
    out = {}
    for p in paths:
        p = Path(p)
        if p.is_file() and not p.is_fifo():
            out[p] = p.read_bytes()
    return out


def run(argv, capsys):
    """main(argv) in-process -> (code, stderr lines, seconds)."""
    start = time.monotonic()
    code = main([str(a) for a in argv])
    seconds = time.monotonic() - start
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()], seconds


def check_refused(argv, capsys, inputs, needle: str, code: int = 2):
    before = _snapshot(inputs)
    got, err, seconds = run(argv, capsys)
    assert got == code, err
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    assert needle in err[0], err[0]
    assert seconds < TIME_LIMIT
    assert _snapshot(inputs) == before
    return err[0]


def commands(model: Path, ref: Path, tmp: Path):
    """The three commands on one (possibly hostile) model; report compares it with itself."""
    return {"inspect": ["inspect", model], "dump": ["dump", model, ref, "-o", tmp / "out.npz"],
            "report": ["report", model, model, ref]}


# --- bad model files: every command says one line, exit 2 ---------------------------------------------------------

def _empty(d):
    p = d / "empty.h5"
    p.write_bytes(b"")
    return p, "is empty"


def _random(d):
    p = d / "random.h5"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    return p, "not a Keras model file"


def _truncated(d):
    full = mk.valid_model(d).read_bytes()
    p = d / "truncated.h5"
    p.write_bytes(full[: len(full) // 3])
    return p, "truncated or corrupt"


def _not_keras(d):
    p = d / "plain.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    return p, "not a Keras model"


def _invalid_json(d):
    return mk.write_model(d / "badjson.h5", "{not json"), "not valid JSON"


def _deep_json(d):
    return mk.write_model(d / "deep.h5", "[" * 100_000 + "]" * 100_000), "nested too deeply"


def _cycle(d):
    layers = mk._layers()
    layers[1]["inbound_nodes"] = [[["flatten", 0, 0, {}]]]
    return mk.write_model(d / "cycle.h5", mk.model_config(layers)), "cycle"


def _missing_layer(d):
    layers = mk._layers()
    layers[2]["inbound_nodes"] = [[["ghost", 0, 0, {}]]]
    return mk.write_model(d / "ghost.h5", mk.model_config(layers)), "'ghost'"


def _missing_weights(d):
    return mk.write_model(d / "noweights.h5", mk.model_config(), weights={}), "'dense'"


def _extra_weights(d):
    rng = np.random.default_rng(0)
    ws = {"dense": [("k", rng.normal(size=(4, 3)).astype(np.float32)), ("b", np.zeros(3, np.float32)),
                    ("c", np.zeros(3, np.float32))]}
    return mk.write_model(d / "extra.h5", mk.model_config(), weights=ws), "has 3 weights"


def _absurd_units(d):
    layers = mk._layers(dense_units=10**12)
    return mk.write_model(d / "units.h5", mk.model_config(layers)), "absurdly large"


def _absurd_reshape(d):
    layers = mk._layers(reshape=(10**5, 10**5, 10**5))
    return mk.write_model(d / "reshape.h5", mk.model_config(layers)), "absurdly large"


def _weights_only(d):
    p = d / "weights_only.h5"
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
        f.create_group("dense").attrs["weight_names"] = np.zeros(0)
    return p, "weights-only"


def _directory(d):
    p = d / "adir.h5"
    p.mkdir()
    return p, "directory"


def _missing_path(d):
    return d / "nope.h5", "no such file"


def _external_link(d):
    target = mk.valid_model(d)
    p = mk.write_model(d / "extlink.h5", mk.model_config())
    with h5py.File(p, "a") as f:
        g = f["model_weights"]["dense"]
        del g["dense/kernel:0"]
        g["dense/kernel:0"] = h5py.ExternalLink(str(target), "/model_weights/dense/dense/kernel:0")
    return p, "external link"


def _external_storage(d):
    raw = d / "raw.bin"
    raw.write_bytes(np.zeros(12, np.float32).tobytes())
    p = mk.write_model(d / "extstore.h5", mk.model_config())
    with h5py.File(p, "a") as f:
        g = f["model_weights"]["dense"]["dense"]
        del g["kernel:0"]
        g.create_dataset("kernel:0", shape=(4, 3), dtype="f4", external=[(str(raw), 0, 48)])
    return p, "external storage"


def _virtual(d):
    src = mk.valid_model(d)
    p = mk.write_model(d / "virtual.h5", mk.model_config())
    layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "/model_weights/dense/dense/kernel:0", shape=(4, 3))
    with h5py.File(p, "a") as f:
        g = f["model_weights"]["dense"]["dense"]
        del g["kernel:0"]
        g.create_virtual_dataset("kernel:0", layout)
    return p, "virtual dataset"


def _zip_bomb(d):
    return mk.keras_zip(d, {"config.json": b"{}", "metadata.json": b"{}",
                            "model.weights.h5": b"\0" * (64 * 2**20)}), "compression ratio"


def _zip_traversal(d):
    return mk.keras_zip(d, {"../../evil.json": b"{}", "metadata.json": b"{}"}), "no config.json"


def _zip_bad_config(d):
    return mk.keras_zip(d, {"config.json": b"[" * 100_000, "metadata.json": b"{}",
                            "model.weights.h5": mk.valid_model(d).read_bytes()}), "nested too deeply"


BAD_MODELS = [_empty, _random, _truncated, _not_keras, _invalid_json, _deep_json, _cycle, _missing_layer,
              _missing_weights, _extra_weights, _absurd_units, _absurd_reshape, _weights_only, _directory,
              _missing_path, _external_link, _external_storage, _virtual, _zip_bomb, _zip_traversal,
              _zip_bad_config]


@pytest.mark.parametrize("command", ["inspect", "dump", "report"])
@pytest.mark.parametrize("build", BAD_MODELS, ids=lambda f: f.__name__.strip("_"))
def test_bad_model(build, command, tmp_path, capsys):
    """One line naming the file and the problem, exit 2, no traceback, input untouched."""
    model, needle = build(tmp_path)
    ref = mk.valid_input(tmp_path)
    line = check_refused(commands(model, ref, tmp_path)[command], capsys, [model, ref], needle)
    assert str(model) in line
    assert not (tmp_path / "out.npz").exists()


def test_wrong_weight_shape(tmp_path, capsys):
    """A kernel whose shape does not fit the layer: inspect shows it; dump/report refuse with one line."""
    rng = np.random.default_rng(0)
    ws = {"dense": [("k", rng.normal(size=(5, 3)).astype(np.float32)), ("b", np.zeros(3, np.float32))]}
    model = mk.write_model(tmp_path / "shape.h5", mk.model_config(), weights=ws)
    ref = mk.valid_input(tmp_path)
    cmds = commands(model, ref, tmp_path)
    assert run(cmds["inspect"], capsys)[0] == 0
    for command in ("dump", "report"):
        check_refused(cmds[command], capsys, [model, ref], "'dense'")


# --- special files: never hang ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["inspect", "dump", "report"])
def test_fifo_and_device_do_not_hang(command, tmp_path, capsys):
    ref = mk.valid_input(tmp_path)
    for path, needle in ((mk.fifo(tmp_path), "not a regular file"), (Path("/dev/zero"), "not a regular file")):
        check_refused(commands(path, ref, tmp_path)[command], capsys, [ref], needle)
        (tmp_path / "fifo.h5").unlink(missing_ok=True) if path.name == "fifo.h5" else None


def test_unreadable_file(tmp_path, capsys, monkeypatch):
    """A permission error (simulated: CI runs as root) is one line, exit 2."""
    model = mk.valid_model(tmp_path)
    real_open = open

    def deny(path, *a, **k):
        if str(path) == str(model):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", deny)
    check_refused(["inspect", model], capsys, [], "Permission denied")


# --- reference inputs ---------------------------------------------------------------------------------------------

def _pickled(d):
    p = d / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return p, "pickled"


def _garbage(d):
    p = d / "garbage.npy"
    p.write_bytes(b"\x93NUMPY garbage" * 10)
    return p, "not a readable"


def _wrong_shape(d):
    p = d / "shape.npy"
    np.save(p, np.zeros((2, 7), np.float32))
    return p, "expects"


def _wrong_dtype(d):
    p = d / "complex.npy"
    np.save(p, np.zeros((2, 4), np.complex64))
    return p, "dtype"


def _strings(d):
    p = d / "str.npy"
    np.save(p, np.array([["a"] * 4] * 2))
    return p, "dtype"


@pytest.mark.parametrize("command", ["dump", "report"])
@pytest.mark.parametrize("build", [_pickled, _garbage, _wrong_shape, _wrong_dtype, _strings],
                         ids=lambda f: f.__name__.strip("_"))
def test_bad_reference(build, command, tmp_path, capsys):
    model = mk.valid_model(tmp_path)
    ref, needle = build(tmp_path)
    line = check_refused(commands(model, ref, tmp_path)[command], capsys, [model, ref], needle)
    assert str(ref) in line


def test_nan_reference_is_a_warning_not_an_error(tmp_path, capsys):
    model = mk.valid_model(tmp_path)
    ref = tmp_path / "nan.npy"
    x = np.zeros((2, 4), np.float32)
    x[0, 1] = np.nan
    np.save(ref, x)
    code, err, _ = run(["report", model, model, ref], capsys)
    assert code == 0 and any("NaN" in line for line in err)
    assert run(["dump", model, ref, "-o", tmp_path / "o.npz"], capsys)[0] == 0


# --- outputs never replace inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("command", ["dump", "report"])
def test_output_never_replaces_an_input(how, command, tmp_path, capsys):
    model = mk.valid_model(tmp_path)
    ref = mk.valid_input(tmp_path)
    target = tmp_path / "alias.npz"
    if how == "same":
        target = model
    elif how == "symlink":
        target.symlink_to(model)
    else:
        os.link(model, target)
    argv = ["dump", model, ref, "-o", target] if command == "dump" else ["report", model, model, ref, "-o", target]
    check_refused(argv, capsys, [model, ref], "refusing to overwrite")


# --- code in files is never executed; names are never markup ------------------------------------------------------

def test_lambda_code_is_never_executed(tmp_path, capsys):
    marker = tmp_path / "pwned"
    model = mk.lambda_model(tmp_path, marker)
    ref = mk.valid_input(tmp_path)
    assert run(["inspect", model], capsys)[0] == 0
    code, err, _ = run(["dump", model, ref, "-o", tmp_path / "o.npz"], capsys)
    assert code == 3 and "'lam'" in err[0] and "unsupported" in err[0]
    assert set(np.load(tmp_path / "o.npz").files) == {"dense"}
    assert run(["report", model, model, ref], capsys)[0] == 3
    assert not marker.exists()


def test_names_are_shown_literally(tmp_path, capsys):
    """A layer named with Rich markup and an OSC 52 escape shows literally; no raw control character is printed."""
    model = mk.hostile_names(tmp_path)
    assert main(["inspect", str(model)]) == 0
    out = capsys.readouterr().out
    assert "[bold red]X[/] \\x1b]52;c;aGk=\\x07" in out
    assert "\x1b" not in out and "\x07" not in out
    assert main(["inspect", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["layers"][0]["name"] == "[bold red]X[/] \x1b]52;c;aGk=\x07"
    ref = mk.valid_input(tmp_path)
    for fmt in ("md", "html", "json"):
        assert main(["report", str(model), str(model), str(ref), "--format", fmt]) == 0
        text = capsys.readouterr().out
        assert "\x1b" not in text and "\x07" not in text


def test_unknown_layer_class(tmp_path, capsys):
    """inspect lists an unknown class as unsupported (exit 0); dump and report stop there with exit 3."""
    layers = mk._layers()
    layers[2]["class_name"] = "MyCustomLayer"
    model = mk.write_model(tmp_path / "custom.h5", mk.model_config(layers))
    ref = mk.valid_input(tmp_path)
    assert main(["inspect", str(model)]) == 0
    assert "MyCustomLayer" in capsys.readouterr().out
    code, err, _ = run(["dump", model, ref, "-o", tmp_path / "o.npz"], capsys)
    assert code == 3 and "reshape" in err[0]
    assert run(["report", model, model, ref], capsys)[0] == 3


def test_one_subprocess_smoke_per_command(tmp_path):
    """The real process: a hostile file gives one stderr line, exit 2, no traceback."""
    import subprocess
    import sys

    bad = tmp_path / "random.h5"
    bad.write_bytes(os.urandom(2048))
    ref = mk.valid_input(tmp_path)
    for argv in (["inspect", bad], ["dump", bad, ref, "-o", tmp_path / "o.npz"], ["report", bad, bad, ref],
                 [bad, bad, ref]):
        r = subprocess.run([sys.executable, "-m", "kstep", *map(str, argv)], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
