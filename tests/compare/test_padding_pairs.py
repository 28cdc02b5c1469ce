"""`theano_same_padding` on the real Keras 2.2.4 / 1.2.2 (Theano) -> tf-keras 2.21 pairs of tests/fixtures/pairs
(made by tests/fixtures/make_padding_pairs.py): kstep names the cause at the stated layer, and the padding its action
names is the one the pair's `*_zeropad_correct` twin uses in real tf-keras, where the models agree.
(test_modern_pairs.py checks every pair's first divergence and cause; this checks that the action is the fix real
Keras confirms.)"""

import json
import shutil

import h5py
import pytest

from kstep.cli import main
from tests.conftest import FIXTURES

PAIRS = FIXTURES / "pairs"
MANIFEST = [p for p in json.loads((PAIRS / "manifest.json").read_text())["pairs"]
            if p.get("generator") == "make_padding_pairs.py"]
BROKEN = [p for p in MANIFEST if p["cause"] == "theano_same_padding"]
BY_ID = {p["id"]: p for p in MANIFEST}


def _report(capsys, pair: dict) -> tuple[int, dict]:
    argv = ["report", str(PAIRS / pair["old"]), str(PAIRS / pair["new"]), str(PAIRS / pair["ref"]),
            "--ref-new", str(PAIRS / pair["ref_new"]), "--format", "json"]
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def _zero_padding_of(path, layer: str) -> tuple[tuple[int, int], ...]:
    """The `padding` of the ZeroPadding layer named `layer` in a tf-keras .h5 model file."""
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    found = next(ly for ly in config["config"]["layers"] if ly["config"]["name"] == layer)
    pad = found["config"]["padding"]
    pairs = [pad] if isinstance(pad[0], int) else pad
    return tuple(tuple(p) for p in pairs)


def test_the_padding_pairs_cover_every_class():
    """Conv 1D/2D/3D (even, strided, dilated), max and average pooling, an unflipped kernel, fixed and correct."""
    assert {p["id"] for p in BROKEN} >= {
        "th_same_conv1d_even_kernel", "th_same_conv2d_even_kernel", "th_same_conv2d_strided_even_size",
        "th_same_conv2d_dilated_even_kernel", "th_same_conv3d_strided_even_size", "th_same_maxpool2d",
        "th_same_avgpool2d_strided", "th_same_conv2d_even_kernel_noflip", "k1_th_same_conv2d_even_kernel",
        "k1_th_same_maxpool2d"}
    assert sum(p["id"].endswith("_zeropad_correct") for p in MANIFEST) >= 6


@pytest.mark.parametrize("pair", BROKEN, ids=[p["id"] for p in BROKEN])
def test_action_names_the_padding_that_real_keras_confirms(pair, capsys):
    """The explaining hypothesis closes the gap to within tolerance and names ZeroPadding with exactly the amounts
    of the real-Keras fixed twin (which agrees with OLD), or says why zeros cannot express it."""
    code, doc = _report(capsys, pair)
    first = doc["first_divergence"]
    assert code == 1 and first["cause"] == "theano_same_padding"
    h = next(h for h in first["hypotheses"] if h["explains"])
    assert h["code"] == "theano_same_padding" and h["after"] < 1e-4 < float(h["before"])
    pads = tuple(tuple(p) for p in pair["theano_pads"])
    shown = pads[0] if len(pads) == 1 else pads
    if pair["id"] == "th_same_avgpool2d_strided":  # Keras 2.2.4 averages over the real cells only
        assert h["action"].startswith("not expressible") and str(shown) in h["action"]
        return
    assert f"ZeroPadding{len(pads)}D(padding={shown})" in h["action"], h["action"]  # NEW is channels_last
    twin = BY_ID.get(pair["id"].removesuffix("_noflip") + "_zeropad_correct")
    if twin is not None:
        assert _zero_padding_of(PAIRS / twin["new"], twin["fixed_layer"] + "_pad") == pads
        assert _report(capsys, twin)[0] == 0


def test_a_zero_padding_with_the_wrong_amounts_is_not_taken_for_the_fix(tmp_path, capsys):
    """The fixed twin with its ZeroPadding2D edited to TensorFlow's amounts ((0, 1), (0, 1)) (same shapes, wrong
    windows): the NEW-only padding is not a pass, conv1 diverges (exit 1)."""
    twin = BY_ID["th_same_conv2d_even_kernel_zeropad_correct"]
    new = tmp_path / "new.h5"
    shutil.copy(PAIRS / twin["new"], new)
    with h5py.File(new, "r+", locking=False) as f:
        config = json.loads(f.attrs["model_config"])
        pad = next(ly for ly in config["config"]["layers"] if ly["config"]["name"] == "conv1_pad")
        pad["config"]["padding"] = [[0, 1], [0, 1]]
        f.attrs["model_config"] = json.dumps(config)
    code, doc = _report(capsys, dict(twin, new=str(new)))
    assert code == 1 and doc["first_divergence"]["layer_old"] == "conv1"
