"""End to end on a real pair with a PNG as the reference (tests/fixtures/preprocess/image_pair, made by
tests/fixtures/make_preprocess.py with real Keras): OLD (Keras 3, channels_first) was served caffe-preprocessed images,
NEW (tf_keras, channels_last, the same weights) is fed tf-preprocessed ones. kstep reads the PNG into each side's
layout, applies each side's preset exactly as Keras's load_img + img_to_array + preprocess_input did, runs both
models to Keras's own predictions, and names the preset that closes the gap (cause input_preprocessing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kstep.cli import main
from kstep.compare.inputs import InputSet
from kstep.compare.preprocess import parse
from kstep.io.load import open_model
from kstep.options import CompareOptions
from kstep.preflight import preflight

PAIR = Path(__file__).parents[1] / "fixtures" / "preprocess" / "image_pair"
OLD, NEW, PNG = str(PAIR / "old.h5"), str(PAIR / "new.h5"), str(PAIR / "cat.png")
KERAS = np.load(PAIR / "keras_image.npz")


def _report(capsys, *flags: str) -> tuple[int, dict]:
    code = main(["report", OLD, NEW, PNG, *flags, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_names_the_preset_that_closes_the_gap(capsys):
    """--pre-old caffe --pre-new tf: exit 1 at the input, input_preprocessing, the action undoes tf and applies
    caffe and names Keras's call; the report notes how the image was read; --pre-new caffe agrees (exit 0)."""
    code, doc = _report(capsys, "--pre-old", "caffe", "--pre-new", "tf")
    first = doc["first_divergence"]
    assert code == 1 and first["reason"] == "input" and first["cause"] == "input_preprocessing"
    action = next(h["action"] for h in first["hypotheses"] if h["explains"])
    assert action.startswith("pass --pre-new undo:tf --pre-new caffe;")
    assert "keras.applications.imagenet_utils.preprocess_input(x, mode='caffe')" in action
    assert any("1 image read as RGB 0..255, cast to float32, laid out NCHW" in n for n in doc["input_notes"])
    code, doc = _report(capsys, "--pre-old", "caffe")
    action = next(h["action"] for h in doc["first_divergence"]["hypotheses"] if h["explains"])
    assert code == 1 and action.startswith("pass --pre-new caffe;")
    assert _report(capsys, "--pre-old", "caffe", "--pre-new", "caffe")[0] == 0
    assert _report(capsys, "--pre-old", "caffe", "--pre-new", "tf", "--pre-new", "undo:tf", "--pre-new",
                   "caffe")[0] == 0


def test_feeds_equal_keras_and_so_do_the_predictions(tmp_path):
    """The PNG through kstep (each side's layout, then its preset) is what Keras's load_img + img_to_array +
    preprocess_input made, to the bit: OLD's NCHW caffe and NEW's NHWC tf; kstep's engine on those feeds gives
    each Keras's own predictions."""
    with open_model(OLD, attach=False) as old, open_model(NEW, attach=False) as new:
        inputs = InputSet(old, new, PNG, None, (parse("caffe"),), (parse("tf"),))
        try:
            chunk = inputs.chunk(0, inputs.count)
        finally:
            inputs.close()
    np.testing.assert_array_equal(chunk.old["image"], KERAS["x_old_caffe"])  # to the bit (float32)
    np.testing.assert_array_equal(chunk.new["image"], KERAS["x_new_tf"])
    for model, feed, want in ((OLD, chunk.old["image"], "out_old"), (NEW, chunk.new["image"], "out_new_tf")):
        np.save(tmp_path / "feed.npy", feed)
        assert main(["dump", model, str(tmp_path / "feed.npy"), "-o", str(tmp_path / "out.npz")]) == 0
        np.testing.assert_allclose(np.load(tmp_path / "out.npz")["probs"], KERAS[want], rtol=1e-5, atol=1e-6)


def test_debugger_form_and_its_preflight(capsys):
    """`kstep OLD NEW cat.png` (no terminal: the Markdown report) diverges the same way; the debugger's preflight
    accepts the PNG, decoding nothing, and notes how it is read."""
    assert main([OLD, NEW, PNG, "--pre-old", "caffe", "--pre-new", "tf"]) == 1
    assert "input_preprocessing" in capsys.readouterr().out
    pre = preflight(OLD, NEW, PNG, None, CompareOptions())
    assert any("1 image read as RGB" in n for n in pre.notes)


def test_dump_takes_the_png(tmp_path, capsys):
    """`kstep dump MODEL cat.png`: the image in the model's own layout (OLD NCHW, NEW NHWC), every layer written."""
    for model, conv1 in ((OLD, (1, 4, 12, 16)), (NEW, (1, 12, 16, 4))):
        assert main(["dump", model, PNG, "-o", str(tmp_path / "out.npz")]) == 0
        assert np.load(tmp_path / "out.npz")["conv1"].shape == conv1
    assert "1 image read as RGB" in capsys.readouterr().err


def test_output_onto_any_image_of_the_batch_is_refused(tmp_path, capsys):
    """-o (report) and --report (fix) onto the second image of the batch: exit 2, the image untouched."""
    import shutil

    second = tmp_path / "second.png"
    shutil.copyfile(PNG, second)
    before = second.read_bytes()
    assert main(["report", OLD, NEW, PNG, str(second), "-o", str(second)]) == 2
    assert main(["fix", OLD, NEW, PNG, str(second), "-o", str(tmp_path / "fixed.h5"), "--report", str(second)]) == 2
    assert "input" in capsys.readouterr().err
    assert second.read_bytes() == before


def test_dump_resizes_an_image_input(tmp_path):
    """dump --resize HxW: the PNG scaled up 2x by pixel repetition, then back to the model's 12x16 by
    nearest-neighbour, is the original image, so every layer's output equals the plain dump's; without --resize
    the big image is refused (exit 2)."""
    from PIL import Image

    big = tmp_path / "big.png"
    with Image.open(PNG) as im:
        im.resize((im.width * 2, im.height * 2), Image.NEAREST).save(big)
    assert main(["dump", OLD, PNG, "-o", str(tmp_path / "plain.npz")]) == 0
    assert main(["dump", OLD, str(big), "-o", str(tmp_path / "big.npz")]) == 2
    assert main(["dump", OLD, str(big), "--resize", "12x16", "-o", str(tmp_path / "big.npz")]) == 0
    with np.load(tmp_path / "plain.npz") as a, np.load(tmp_path / "big.npz") as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    assert main(["dump", OLD, PNG, "--resize", "12by16", "-o", str(tmp_path / "x.npz")]) == 2
