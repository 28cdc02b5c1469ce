"""`kstep report` on every committed cross-generation migration pair in tests/fixtures/pairs (tf-keras 2 <-> Keras 3,
real Keras outputs, verified first divergent layer; made by tests/fixtures/make_pairs.py): exit 1 with the stated
first divergent layer and cause for broken pairs, exit 0 for correct ones. The manifest's `cause` is kstep's code."""

import json

import pytest

from kstep.cli import main
from tests.conftest import FIXTURES

PAIRS = FIXTURES / "pairs"
MANIFEST = json.loads((PAIRS / "manifest.json").read_text())["pairs"]


def test_manifest_is_verified():
    """Every pair's stated first divergent layer is the one the real Keras outputs show (checked by the generator)."""
    assert len(MANIFEST) >= 7
    for pair in MANIFEST:
        assert pair["verified_ok"], pair["id"]
        assert pair["verified_first_divergent"] == pair["expected_first_divergent_layer_old"], pair["id"]
        assert pair["correct"] == (pair["cause"] == "none"), pair["id"]


@pytest.mark.parametrize("pair", MANIFEST, ids=[p["id"] for p in MANIFEST])
def test_pair(pair, capsys):
    """The JSON report's first_divergence names the manifest's layer and cause (or none for a correct pair)."""
    argv = ["report", str(PAIRS / pair["old"]), str(PAIRS / pair["new"]), str(PAIRS / pair["ref"]),
            "--ref-new", str(PAIRS / pair["ref_new"]), "--format", "json"]
    code = main(argv)
    out = capsys.readouterr()
    doc = json.loads(out.out)
    first = doc["first_divergence"]
    if pair["correct"]:
        assert code == 0, first
        assert first is None and doc["agree"] is True
    else:
        assert code == 1, out.err
        assert first["layer_old"] == pair["expected_first_divergent_layer_old"]
        assert first["layer_new"] == pair["expected_first_divergent_layer_new"]
        assert first["cause"] == pair["cause"]
        explained = [h for h in first["hypotheses"] if h["explains"]]
        assert explained and explained[0]["code"] == first["cause"]
        assert explained[0]["after"] < explained[0]["before"]
        assert explained[0]["action"]
