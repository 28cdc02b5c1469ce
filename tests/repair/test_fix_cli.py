"""`kstep fix` as a command: what it writes (NEW's own file, only the edits differ), what it refuses (exit 2, one
line), --dry-run, --keep-on-diverge, and that no input is ever modified."""

import hashlib
import json
import os
import shutil
import zipfile

import h5py
import numpy as np
import pytest

from kstep.cli import main
from tests.conftest import FIXTURES, LEGACY, need_shared

PAIRS = FIXTURES / "pairs"
FLATTEN = PAIRS / "channels_first_to_last_flatten"  # flatten_dense_order at fc1 (tf-keras 2.21 NEW)
BN_AXIS = PAIRS / "channels_first_to_last_bn_axis"  # data_format: axis=1 kept (a config edit)
ACTIVATION_ZIP = PAIRS / "dense_activation_changed_keras"  # config:activation, Keras 3 .keras NEW


def _argv(pair, out, *extra, new="new.h5"):
    return ["fix", str(pair / "old.h5"), str(pair / new), str(pair / "ref.npy"), "--ref-new",
            str(pair / "ref_new.npy"), "-o", str(out), *extra]


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _objects(path) -> dict:
    """Every object of an HDF5 file: path -> (attributes, dataset array or None)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: obj.attrs[k] for k in obj.attrs}
            out[name] = (attrs, obj[()] if isinstance(obj, h5py.Dataset) else None)
        visit("/", f)
        f.visititems(visit)
    return out


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(a == b))


def test_only_the_edits_differ(tmp_path, capsys):
    """FIXED is NEW copied: every object, attribute and dataset as in NEW, except the edited kernel."""
    out = tmp_path / "fixed.h5"
    before = _sha(FLATTEN / "new.h5")
    assert main(_argv(FLATTEN, out)) == 0
    assert _sha(FLATTEN / "new.h5") == before
    new, fixed = _objects(FLATTEN / "new.h5"), _objects(out)
    assert list(new) == list(fixed)
    changed = [name for name in new if new[name][1] is not None and not _same(new[name][1], fixed[name][1])]
    assert changed == ["model_weights/fc1/fc1/kernel:0"]
    for name, (attrs, _) in new.items():
        assert list(attrs) == list(fixed[name][0]), name
        for key, value in attrs.items():
            assert _same(value, fixed[name][0][key]), (name, key)
    assert "flatten_dense_order" in capsys.readouterr().out


@pytest.mark.parametrize("stored", ["as saved", "fixed-length", "utf-8"])
def test_config_edit_keeps_the_string_type(tmp_path, stored, capsys):
    """A config edit rewrites model_config with its attribute's string type (fixed- or variable-length, encoding)
    kept, and only the edited key changes. tf-keras 2.21 saves it variable-length ASCII."""
    new = tmp_path / "new.h5"
    shutil.copyfile(BN_AXIS / "new.h5", new)
    with h5py.File(new, "r+") as f:
        text = f.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        if stored == "fixed-length":
            f.attrs.create("model_config", np.bytes_(text.encode()))
        elif stored == "utf-8":
            f.attrs.create("model_config", text, dtype=h5py.string_dtype("utf-8"))
        stored_type = h5py.check_string_dtype(f.attrs.get_id("model_config").dtype)
    argv = ["fix", str(BN_AXIS / "old.h5"), str(new), str(BN_AXIS / "ref.npy"), "--ref-new",
            str(BN_AXIS / "ref_new.npy"), "-o", str(tmp_path / "fixed.h5")]
    assert main(argv) == 0, capsys.readouterr().err
    with h5py.File(tmp_path / "fixed.h5", "r") as f:
        fixed_type = h5py.check_string_dtype(f.attrs.get_id("model_config").dtype)
        fixed_text = f.attrs["model_config"]
    assert (fixed_type.length is None) == (stored_type.length is None) == (stored != "fixed-length")
    assert fixed_type.encoding == stored_type.encoding == ("utf-8" if stored == "utf-8" else "ascii")
    doc_new = json.loads(text)
    doc_fixed = json.loads(fixed_text.decode() if isinstance(fixed_text, bytes) else fixed_text)
    bn = [e for e in doc_fixed["config"]["layers"] if e["config"]["name"] == "bn"][0]
    assert bn["config"]["axis"] == -1
    bn["config"]["axis"] = [e for e in doc_new["config"]["layers"] if e["config"]["name"] == "bn"][0]["config"]["axis"]
    assert doc_fixed == doc_new


def test_keras3_archive_members_kept(tmp_path, capsys):
    """A .keras NEW: a new zip with the same members in the same order; only config.json differs here."""
    out = tmp_path / "fixed.keras"
    assert main(_argv(ACTIVATION_ZIP, out, new="new.keras")) == 0, capsys.readouterr().err
    with zipfile.ZipFile(ACTIVATION_ZIP / "new.keras") as a, zipfile.ZipFile(out) as b:
        assert [i.filename for i in a.infolist()] == [i.filename for i in b.infolist()]
        for info in a.infolist():
            same = a.read(info) == b.read(info.filename)
            assert same == (info.filename != "config.json"), info.filename
        assert json.loads(b.read("config.json")) != json.loads(a.read("config.json"))


def test_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "fixed.h5"
    assert main(_argv(FLATTEN, out, "--dry-run")) == 0
    captured = capsys.readouterr()
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "--dry-run: nothing written" in captured.err and "## Fixes applied" in captured.out


def _second_mistake(tmp_path):
    """The flatten pair's NEW with fc2's kernel retrained (replaced): fixable at fc1, then weights_changed."""
    new = tmp_path / "new.h5"
    shutil.copyfile(FLATTEN / "new.h5", new)
    with h5py.File(new, "r+") as f:
        ds = f["model_weights/fc2/fc2/kernel:0"]
        ds[...] = np.random.default_rng(0).standard_normal(ds.shape).astype(ds.dtype)
    return ["fix", str(FLATTEN / "old.h5"), str(new), str(FLATTEN / "ref.npy"), "--ref-new",
            str(FLATTEN / "ref_new.npy")]


def test_divergence_remains_nothing_written(tmp_path, capsys):
    out = tmp_path / "out" / "fixed.h5"
    out.parent.mkdir()
    assert main(_second_mistake(tmp_path) + ["-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert "weights_changed at fc2 cannot be fixed in NEW's file" in captured.err
    assert "--accept-old-weights fc2" in captured.err


def test_keep_on_diverge_writes_the_fixes_that_applied(tmp_path, capsys):
    out = tmp_path / "fixed.h5"
    argv = _second_mistake(tmp_path) + ["-o", str(out), "--keep-on-diverge", "--report", str(tmp_path / "r.json")]
    assert main(argv) == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [f["cause"] for f in doc["fixes"]] == ["flatten_dense_order"]
    assert doc["first_divergence"]["layer_new"] == "fc2" and doc["first_divergence"]["cause"] == "weights_changed"
    assert out.exists() and "a divergence remains (--keep-on-diverge)" in capsys.readouterr().err


def test_already_agreeing_pair_writes_nothing(tmp_path, capsys):
    pair = PAIRS / "channels_first_to_last_correct"
    out = tmp_path / "fixed.h5"
    assert main(_argv(pair, out)) == 0
    assert not out.exists() and "nothing to fix" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["old", "new", "ref", "link_to_new"])
def test_output_onto_an_input_is_refused(tmp_path, target, capsys):
    new = tmp_path / "new.h5"
    shutil.copyfile(FLATTEN / "new.h5", new)
    before = _sha(new)
    out = {"old": FLATTEN / "old.h5", "new": new, "ref": FLATTEN / "ref.npy", "link_to_new": tmp_path / "link.h5"}
    if target == "link_to_new":
        os.symlink(new, out[target])
    argv = ["fix", str(FLATTEN / "old.h5"), str(new), str(FLATTEN / "ref.npy"), "-o", str(out[target])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one of the input files" in err
    assert _sha(new) == before


def test_output_not_a_regular_file_is_refused(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for out in (fifo, "/dev/null", tmp_path):
        assert main(_argv(FLATTEN, out)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "regular files only" in err, err


def test_output_directory_missing(tmp_path, capsys):
    assert main(_argv(FLATTEN, tmp_path / "nope" / "fixed.h5")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_format_read_but_not_written(tmp_path, capsys):
    """A tf.keras 2.15 .keras archive is read (issue 12) but kstep cannot write that format: exit 2, saying so."""
    zipped = FIXTURES / "tf2zip" / "k2.15.0"
    model, ref = zipped / "seq_cnn.keras", zipped / "seq_cnn.input.npy"
    assert main(["fix", str(model), str(model), str(ref), "-o", str(tmp_path / "fixed.keras")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write that format" in err
    assert list(tmp_path.iterdir()) == []


def _json_and_weights(tmp_path):
    """BN_AXIS's NEW split the way tf.keras's to_json() + save_weights(x.h5) store it: the model_config as the JSON
    file, the model_weights group (with its attributes) at the root of a weights file."""
    arch, weights = tmp_path / "new.json", tmp_path / "new_weights.h5"
    with h5py.File(BN_AXIS / "new.h5", "r") as f, h5py.File(weights, "w") as w:
        text = f.attrs["model_config"]
        arch.write_text(text.decode() if isinstance(text, bytes) else text)
        group = f["model_weights"]
        for key in group.attrs:
            w.attrs[key] = group.attrs[key]
        for name in group:
            group.copy(name, w)
    return arch, weights


def test_architecture_json_config_edit_needs_arch_out(tmp_path, capsys):
    arch, weights = _json_and_weights(tmp_path)
    base = ["fix", str(BN_AXIS / "old.h5"), str(arch), str(BN_AXIS / "ref.npy"), "--ref-new",
            str(BN_AXIS / "ref_new.npy"), "--weights-new", str(weights), "-o", str(tmp_path / "fixed_weights.h5")]
    assert main(base) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()  # the rounds' progress, then one line
    assert lines[-1].endswith("--arch-out") and all(line.startswith("round ") for line in lines[:-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "new_weights.h5"]
    assert main(base + ["--arch-out", str(tmp_path / "fixed.json")]) == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "fixed.json").read_text())
    assert [e["config"]["axis"] for e in doc["config"]["layers"] if e["config"]["name"] == "bn"] == [-1]
    assert json.loads(arch.read_text()) != doc


def test_unsupported_layer_is_exit_3(tmp_path, capsys):
    """A Lambda in both models: the comparison stops there; nothing to fix before it, nothing written, exit 3."""
    model = need_shared(LEGACY / "cases" / "k1" / "lambda.h5")
    ref = LEGACY / "cases" / "k1" / "lambda.input.npy"
    assert main(["fix", str(model), str(model), str(ref), "-o", str(tmp_path / "fixed.h5")]) == 3
    err = capsys.readouterr().err
    assert "unsupported" in err and "nothing written" in err and list(tmp_path.iterdir()) == []
