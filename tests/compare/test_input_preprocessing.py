"""The input cause `input_preprocessing`: OLD and NEW fed one image through different keras preprocess_input modes
(real Keras outputs, tests/fixtures/make_preprocess.py), on arrays and end to end on a real pair whose OLD is
channels_first and NEW channels_last (tests/fixtures/pairs/channels_first_to_last_correct)."""

import json
from pathlib import Path

import numpy as np
import pytest

from kstep.cli import main
from kstep.compare.input_causes import INPUT_CAUSES, input_preprocessing
from kstep.compare.preprocess import apply_all

FIX = Path(__file__).parents[1] / "fixtures"
KERAS = np.load(FIX / "preprocess" / "keras_preprocess.npz")
PAIR = FIX / "pairs" / "channels_first_to_last_correct"


MODES = ["caffe", "tf", "torch", None]


@pytest.mark.parametrize(("old_mode", "new_mode"), [(o, n) for o in MODES for n in MODES if o != n])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_names_the_modes_and_the_fix(old_mode, new_mode, fmt):
    """Every pair of different modes (None: raw) is recognised, and its transforms turn NEW's input into OLD's."""
    key, axis = ("x_last", -1) if fmt == "channels_last" else ("x_first", 1)
    raw = KERAS[key].astype(np.float32)
    a = raw if old_mode is None else KERAS[f"tfk_{old_mode}_{fmt}"]
    b = raw if new_mode is None else KERAS[f"tfk_{new_mode}_{fmt}"]
    found = input_preprocessing(a.astype(np.float64), b.astype(np.float64), axis)
    assert found is not None and found.code == "input_preprocessing"
    assert found.keras_mode == (old_mode or "")
    assert [str(t) for t in found.transforms] == ([f"undo:{new_mode}"] if new_mode else []) + \
        ([old_mode] if old_mode else [])
    np.testing.assert_allclose(apply_all(b, list(found.transforms), axis == 1), a, rtol=1e-5, atol=1e-4)


def test_not_claimed_by_the_other_causes_and_not_claiming_theirs():
    """caffe vs tf is only input_preprocessing; a pure 1/255 scale or a channel flip is not input_preprocessing."""
    a = KERAS["tfk_caffe_channels_last"].astype(np.float64)
    b = KERAS["tfk_tf_channels_last"].astype(np.float64)
    assert [c.__name__ for c in INPUT_CAUSES if c(a, b, -1) is not None] == ["input_preprocessing"]
    raw = KERAS["x_last"].astype(np.float64)
    assert input_preprocessing(raw, raw / 255, -1) is None
    assert input_preprocessing(raw, raw[..., ::-1], -1) is None


def report(argv, capsys) -> tuple[int, dict]:
    code = main(["report", str(PAIR / "old.h5"), str(PAIR / "new.h5"), *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_real_pair_caffe_vs_tf(tmp_path, capsys):
    """OLD fed Keras's caffe input (NCHW), NEW Keras's tf input (NHWC): exit 1 at the input, input_preprocessing,
    the action names the --pre-new flags and the Keras call; with those flags the pair agrees."""
    np.save(tmp_path / "old.npy", KERAS["pair_old_caffe"])
    np.save(tmp_path / "new.npy", KERAS["pair_new_tf"])
    refs = [str(tmp_path / "old.npy"), "--ref-new", str(tmp_path / "new.npy")]
    code, doc = report(refs, capsys)
    first = doc["first_divergence"]
    assert code == 1 and first["reason"] == "input" and first["cause"] == "input_preprocessing"
    action = next(h["action"] for h in first["hypotheses"] if h["explains"])
    assert action.startswith("pass --pre-new undo:tf --pre-new caffe;")
    assert "keras.applications.imagenet_utils.preprocess_input(x, mode='caffe')" in action
    assert report([*refs, "--pre-new", "undo:tf", "--pre-new", "caffe"], capsys)[0] == 0


def test_real_pair_raw_uint8_with_presets(tmp_path, capsys):
    """A raw uint8 image batch with --pre-old caffe --pre-new caffe agrees across NCHW / NHWC (each side's own
    channel axis), as does OLD fed Keras's own caffe output (NCHW) and NEW the raw NHWC uint8 with --pre-new caffe;
    --pre-new tf instead is input_preprocessing."""
    np.save(tmp_path / "img.npy", KERAS["img_first"])
    np.save(tmp_path / "img_nhwc.npy", np.ascontiguousarray(KERAS["img_first"].transpose(0, 2, 3, 1)))
    np.save(tmp_path / "old.npy", KERAS["pair_old_caffe"])
    img = str(tmp_path / "img.npy")
    assert report([img, "--pre-old", "caffe", "--pre-new", "caffe"], capsys)[0] == 0
    assert report([str(tmp_path / "old.npy"), "--ref-new", str(tmp_path / "img_nhwc.npy"), "--pre-new", "caffe"],
                  capsys)[0] == 0
    code, doc = report([img, "--pre-old", "caffe", "--pre-new", "tf"], capsys)
    assert code == 1 and doc["first_divergence"]["cause"] == "input_preprocessing"
