"""The caffe / tf / torch presets against real Keras's preprocess_input (tests/fixtures/make_preprocess.py), both
data formats, float32 and uint8 inputs; their inverses; and a uint8 reference through `kstep report`."""

import json
from pathlib import Path

import numpy as np
import pytest

from kstep.cli import main
from kstep.compare.preprocess import PRESETS, apply_all, parse
from kstep.errors import UsageError

KERAS = np.load(Path(__file__).parents[1] / "fixtures" / "preprocess" / "keras_preprocess.npz")
FORMATS = {"channels_last": ("x_last", False), "channels_first": ("x_first", True)}


def close_to_keras(ours: np.ndarray, keras: np.ndarray) -> None:
    """|Δ| <= 1e-5 + 1e-4·|keras| everywhere, same shape and dtype."""
    assert ours.shape == keras.shape and ours.dtype == keras.dtype
    assert np.all(np.abs(ours.astype(np.float64) - keras) <= 1e-5 + 1e-4 * np.abs(keras.astype(np.float64)))


@pytest.mark.parametrize("mode", sorted(PRESETS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("who", ["tfk", "k3"])
def test_preset_is_keras_preprocess_input(mode, fmt, who):
    """kstep's preset on the float32 batch reproduces tf_keras 2.21 / Keras 3.15 preprocess_input(mode, fmt)."""
    key, channels_first = FORMATS[fmt]
    x = KERAS[key].astype(np.float32)
    close_to_keras(apply_all(x, [parse(mode)], channels_first), KERAS[f"{who}_{mode}_{fmt}"])


@pytest.mark.parametrize("mode", sorted(PRESETS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_preset_on_uint8_casts_first(mode, fmt):
    """On the uint8 batch itself the preset casts to float32 first, as Keras does (no wrap-around, no zeros)."""
    key, channels_first = FORMATS[fmt]
    close_to_keras(apply_all(KERAS[key], [parse(mode)], channels_first), KERAS[f"tfk_{mode}_{fmt}_uint8"])


def test_presets_differ_and_refuse_the_wrong_axis():
    """The fixture tells the modes apart; a preset told the wrong channel axis (4 or 5 long) is a UsageError."""
    assert not np.allclose(KERAS["tfk_caffe_channels_last"], KERAS["tfk_torch_channels_last"])
    for key, channels_first in (("x_first", False), ("x_last", True)):
        with pytest.raises(UsageError):
            apply_all(KERAS[key], [parse("caffe")], channels_first)


@pytest.mark.parametrize("mode", sorted(PRESETS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_undo_inverts_keras_output(mode, fmt):
    """undo:MODE turns Keras's preprocessed batch back into the raw 0..255 values."""
    key, channels_first = FORMATS[fmt]
    raw = apply_all(KERAS[f"tfk_{mode}_{fmt}"], [parse(f"undo:{mode}")], channels_first)
    np.testing.assert_allclose(raw, KERAS[key].astype(np.float32), atol=1e-3)


def test_torch_is_scale_mean_std():
    """torch is exactly the composition scale:1/255, mean:0.485,.., std:0.229,.. (to float32 rounding)."""
    x = KERAS["x_last"]
    chain = [parse("scale:1/255"), parse("mean:0.485,0.456,0.406"), parse("std:0.229,0.224,0.225")]
    close_to_keras(apply_all(x, chain, False), KERAS["tfk_torch_channels_last"])


def test_uint8_reference_through_report(tmp_path, capsys):
    """A uint8 REF with --pre-old scale:1/255 / mean: agrees with NEW fed the float32 result (before the fix,
    scale gave zeros and mean wrapped around)."""
    from tests.hostile import make_hostile as mk

    model = mk.valid_model(tmp_path)
    x = np.random.default_rng(3).integers(0, 256, size=(2, 4), dtype=np.uint8)
    np.save(tmp_path / "ref_u8.npy", x)
    for pre, want in (("scale:1/255", x.astype(np.float32) / 255), ("mean:200", x.astype(np.float32) - 200)):
        np.save(tmp_path / "ref_new.npy", want.astype(np.float32))
        code = main(["report", str(model), str(model), str(tmp_path / "ref_u8.npy"), "--ref-new",
                     str(tmp_path / "ref_new.npy"), "--pre-old", pre, "--format", "json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 0, (pre, doc["first_divergence"])
