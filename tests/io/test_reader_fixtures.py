"""Reader-only fixtures made by tests/fixtures/make_fixtures.py with real tf-keras 2.21 / Keras 3.15:
a Keras 3 .keras zip, a tf-keras model.to_json() with a legacy weights-only .h5 and with a new-layout
.weights.h5, chunked attributes, prefixed weight names. Each must load and reproduce Keras's outputs."""

import json

import h5py
import numpy as np
import pytest

from kstep.cli import main
from tests.conftest import FIXTURES

READER = FIXTURES / "modern" / "reader"
MODERN = FIXTURES / "modern"


def _close(got, expected, key):
    a, e = got[key], expected[key]
    assert a.shape == e.shape, key
    assert np.all(np.abs(a.astype(np.float64) - e) <= 1e-5 + 1e-4 * np.abs(e)), key


def _check_dump(argv, expected_path, tmp_path, capsys):
    out = tmp_path / "out.npz"
    assert main(argv + ["-o", str(out)]) == 0, capsys.readouterr().err
    got, expected = np.load(out), np.load(expected_path)
    assert set(expected.files) <= set(got.files)
    for key in expected.files:
        _close(got, expected, key)


def test_keras_zip(tmp_path, capsys):
    """A Keras 3 .keras archive: config.json + model.weights.h5 read in memory, outputs as Keras computed."""
    _check_dump(["dump", str(READER / "k3_small_zip.keras"), str(READER / "k3_small_zip.input.npy")],
                READER / "k3_small_zip.expected.npz", tmp_path, capsys)


@pytest.mark.parametrize("weights", ["tfk_json_weights.h5", "tfk_json_weights.weights.h5"])
def test_json_with_weights(weights, tmp_path, capsys):
    """model.to_json() + save_weights (legacy .h5 and the new .weights.h5 layout)."""
    _check_dump(["dump", str(READER / "tfk_json_weights.json"), str(READER / "tfk_json_weights.input.npy"),
                 "--weights", str(READER / weights)], READER / "tfk_json_weights.expected.npz", tmp_path, capsys)


def test_json_without_weights_is_refused(capsys):
    assert main(["inspect", str(READER / "tfk_json_weights.json")]) == 2
    assert "--weights" in capsys.readouterr().err


def test_chunked_fixture_really_is_chunked():
    """The chunked-attribute case holds layer_names0.. / weight_names0.. and no plain attribute (so the
    engine test over it exercises the chunk joining)."""
    case = next(c for c in json.loads((MODERN / "manifest.json").read_text())["cases"]
                if c["name"] == "tfk/reader_chunked_attrs")
    with h5py.File(MODERN / case["model"], "r", locking=False) as f:
        mw = f["model_weights"]
        assert "layer_names" not in mw.attrs and "layer_names0" in mw.attrs and "layer_names1" in mw.attrs


def test_prefixed_weight_names(capsys):
    """Weight names that do not start with the layer name (TF name scopes) still attach to the right layers."""
    case = next(c for c in json.loads((MODERN / "manifest.json").read_text())["cases"]
                if c["name"] == "tfk/reader_weight_prefix")
    assert main(["inspect", str(MODERN / case["model"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [w["name"] for layer in doc["model"]["layers"] for w in layer["weights"]]
    assert names and all("/" in n for n in names)
    assert any(not n.startswith(layer["name"]) for layer in doc["model"]["layers"] for n in
               [w["name"] for w in layer["weights"]])
