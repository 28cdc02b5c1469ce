"""`.keras` archives saved by real tf.keras 2.12.0, 2.13.1, 2.14.0 and 2.15.0 (tests/fixtures/tf2zip, made by
tests/fixtures/make_tf2zip.py): kstep reads their class-and-count weight layouts (`_layer_checkpoint_dependencies/`,
`layers/`, Windows backslash paths) and reproduces every layer's output as that TensorFlow computed it. Also
MultiHeadAttention in tf_keras 2.21 and Keras 3.15 archives (tests/fixtures/zip_mha, make_zip_mha.py)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from kstep.cli import main
from kstep.io.zip_tree import tf_snake_case
from tests.conftest import FIXTURES

TF2ZIP = FIXTURES / "tf2zip"
MANIFESTS = sorted(TF2ZIP.glob("*/manifest.json"))
CASES = [(m.parent, case) for m in MANIFESTS for case in json.loads(m.read_text())["cases"]]
ZIP_MHA = FIXTURES / "zip_mha"
MHA_CASES = [(ZIP_MHA, dict(case, name=case["flavour"]))
             for case in json.loads((ZIP_MHA / "manifest.json").read_text())["cases"]]


def _id(entry) -> str:
    return f"{entry[0].name}/{entry[1]['name']}"


def test_every_version_was_generated():
    """One directory per tf.keras line the reader knows a rule for (2.12-2.13: repeats counted, 2.14, 2.15:
    layers/)."""
    assert [m.parent.name for m in MANIFESTS] == ["k2.12.0", "k2.13.1", "k2.14.0", "k2.15.0"]


@pytest.mark.parametrize("entry", CASES + MHA_CASES, ids=_id)
def test_outputs_match_real_tf_keras(entry, tmp_path, capsys):
    """Every layer call's output within |kstep - keras| <= 1e-5 + 1e-4 |keras| (float32); MultiHeadAttention's
    sub-layer groups taken in q, k, v, out order (alphabetical order fails its shape check)."""
    folder, case = entry
    out = tmp_path / "out.npz"
    assert main(["dump", str(folder / case["model"]), str(folder / case["input"]), "-o", str(out)]) == 0, \
        capsys.readouterr().err
    got, expected = np.load(out), np.load(folder / case["expected"])
    assert set(expected.files) <= set(got.files)
    for key in expected.files:
        a, e = got[key].astype(np.float64), expected[key].astype(np.float64)
        assert a.shape == e.shape, key
        assert np.all(np.abs(a - e) <= 1e-5 + 1e-4 * np.abs(e)), (key, float(np.max(np.abs(a - e))))


@pytest.mark.parametrize("entry", CASES, ids=_id)
def test_fixture_is_what_its_version_writes(entry):
    """The files hold the layouts the reader rules are about (so the output test exercises them): 2.13 and 2.14
    save under _layer_checkpoint_dependencies, 2.15 under layers; 2.12-2.13 skip a number after a layer with
    weights; Windows saves join with backslashes; the POSIX files reload in that tf.keras itself, the Windows ones do
    not. 2.12's default model.save("x.keras") is legacy HDF5 (read by content, not by name)."""
    folder, case = entry
    paths = case["h5_paths"]
    assert case["zip"] is not case["name"].endswith(".h5default")
    container = "layers" if folder.name == "k2.15.0" else "_layer_checkpoint_dependencies"
    sep = "\\" if case["windows"] else "/"
    outside = ("optimizer/", "metrics" + sep, "vars/")  # optimizer and metric state, the model's own vars
    assert all(p.startswith(outside) or p.startswith(container + sep) for p in paths), paths[:3]
    assert case["reload"]["ok"] is not case["windows"], case["reload"]
    if case["name"] == "seq_cnn" and folder.name in ("k2.12.0", "k2.13.1"):
        assert any("conv2d_2/vars/0" in p for p in paths) and not any("conv2d_1/" in p for p in paths)
    if case["name"] == "seq_cnn" and folder.name in ("k2.14.0", "k2.15.0"):
        assert any("conv2d_1/vars/0" in p for p in paths)


def test_inspect_names_the_layout_and_the_generation(capsys):
    """inspect says tf.keras 2.13.1 from metadata.json and records the object-tree layout as a fact."""
    path = TF2ZIP / "k2.13.1" / "functional_shared_nested.win.keras"
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    text = json.dumps(doc)
    assert "tf.keras" in text and "2.13.1" in text
    assert "_layer_checkpoint_dependencies/<class>_<n>" in text and "counted twice" in text and "Windows" in text


def _rewrite_metadata(src, dst, metadata: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, metadata if item.filename == "metadata.json" else zin.read(item.filename))


@pytest.mark.parametrize("version, case, assume, evidence", [
    ("k2.12.0", "functional_shared_nested", [], "module 'keras.engine.functional': tf.keras 2.12-2.15"),
    ("k2.13.1", "functional_shared_nested", [], "module 'keras.src.engine.functional': tf.keras 2.12-2.15"),
    ("k2.13.1", "seq_cnn", [], "InputLayer batch_input_shape: tf.keras 2.12-2.15"),
    ("k2.14.0", "seq_cnn", ["--assume", "keras_version=2.14.0"], "(--assume)"),
    ("k2.15.0", "seq_cnn", [], "InputLayer batch_input_shape: tf.keras 2.12-2.15")])
def test_missing_keras_version_is_told_by_the_config(version, case, assume, evidence, tmp_path, capsys):
    """Without metadata.json's keras_version, config.json tells tf.keras 2 (a functional model's module
    'keras[.src].engine.functional', a Sequential's InputLayer `batch_input_shape`; not the Keras 1 a missing version
    means in an HDF5 file), read as the first version with that module (2.12 or 2.13): right for 2.12, 2.13 and 2.15
    files; a 2.14 file (same config, other numbering) is refused with the numbering named, and read right with
    --assume keras_version=2.14.0, as the evidence line says."""
    folder = TF2ZIP / version
    path = tmp_path / "m.keras"
    _rewrite_metadata(folder / f"{case}.keras", path, b"{}")
    if assume:
        assert main(["inspect", str(path)]) == 2
        assert "2.12-2.13 count a layer with weights twice" in capsys.readouterr().err
    assert main(["inspect", str(path)] + assume) == 0
    assert evidence in capsys.readouterr().out
    target = tmp_path / "o.npz"
    assert main(["dump", str(path), str(folder / f"{case}.input.npy"), "-o", str(target)] + assume) == 0
    got, expected = np.load(target), np.load(folder / f"{case}.expected.npz")
    assert all(np.allclose(got[k], expected[k], rtol=1e-4, atol=1e-5) for k in expected.files)


@pytest.mark.parametrize("name, snake", [("Conv2D", "conv2d"), ("BatchNormalization", "batch_normalization"),
                                         ("ConvLSTM1D", "conv_lstm1d"), ("MultiHeadAttention", "multi_head_attention"),
                                         ("InputLayer", "input_layer"), ("PReLU", "p_re_lu"), ("GRU", "gru"),
                                         ("_Private", "private__private")])
def test_tf_snake_case(name, snake):
    """tf.keras 2's generic_utils.to_snake_case, as the group names of the fixtures show for the real classes."""
    assert tf_snake_case(name) == snake
