"""`kstep report` on every committed cross-generation migration pair in tests/fixtures/pairs (tf-keras 2 <-> Keras 3,
made by tests/fixtures/make_pairs.py; Keras 1.2.2 -> tf-keras 2, made by tests/fixtures/make_legacy_pairs.py; real
Keras outputs, verified first divergent layer): exit 1 with the stated first divergent layer and cause for broken
pairs, exit 0 for correct ones. The manifest's `cause` is kstep's code."""

import json

import pytest

from tests.compare.test_pairs import check_pair
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
    check_pair(PAIRS, pair, pair["cause"], capsys)
