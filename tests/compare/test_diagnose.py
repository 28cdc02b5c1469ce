"""Diagnoses that no manifest pair names on its own: the alternative to an ASSUMED backend, on either side, and the
layout-aware comparison of an `axis` (config_diff). Real Keras files; the wrong assumption is produced by editing a
copy of a file so that kstep's evidence points the other way."""

import json
import shutil

import h5py

from kstep.cli import main
from kstep.compare.config_diff import config_diff
from kstep.compare.layout import PLAIN, axis_to_new, image
from tests.conftest import FIXTURES, LEGACY, need_shared

PAIRS = LEGACY / "pairs"
CF, CL = image("channels_first"), image("channels_last")


def _report(capsys, *argv) -> tuple[int, dict]:
    code = main(["report", *map(str, argv), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _hyp(doc: dict, code: str) -> dict:
    return next(h for h in doc["first_divergence"]["hypotheses"] if h["code"] == code)


def test_assumed_old_backend_alternative_is_tried(capsys):
    """OLD (Keras 1.2.2, backend assumed Theano from its weight names) vs a migration that did not flip the kernels:
    the kernel flip explains conv1, and so does assuming OLD ran on TensorFlow; both are verified, the flip first."""
    d = need_shared(PAIRS / "cnn_tfk_noflip")
    code, doc = _report(capsys, d / "old.h5", d / "new.h5", d / "ref.npy", "--ref-new", d / "ref_new.npy")
    assert code == 1
    assert doc["first_divergence"]["cause"] == "theano_kernel_flip"
    alt = _hyp(doc, "assume:old.backend=tensorflow")
    assert alt["explains"] and alt["after"] < alt["before"]
    assert alt["action"] == "pass --assume old.backend=tensorflow"


def _as_tensorflow_names(src, dst):
    """A copy of a Keras 1 file whose weight names end in ':0', as TensorFlow wrote them: kstep then assumes the
    TensorFlow backend for a file whose kernels are Theano's."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+", locking=False) as f:
        for layer in f["model_weights"].values():
            names = [n.decode() for n in layer.attrs["weight_names"]]
            for n in names:
                layer.move(n, n + ":0")
            layer.attrs["weight_names"] = [(n + ":0").encode() for n in names]


def test_assumed_new_backend_alternative_is_tried(tmp_path, capsys):
    """NEW is a Keras 1 Theano file whose weight names make kstep assume TensorFlow: conv1 diverges, and the
    report verifies that `--assume new.backend=theano` closes the gap; with that flag the models agree."""
    d = need_shared(PAIRS / "cnn_tfk_correct")
    new = tmp_path / "k1_tfnames.h5"
    _as_tensorflow_names(d / "old.h5", new)
    # OLD = the correct tf.keras migration, NEW = the Keras 1 original fed OLD's layout of the reference
    args = [d / "new.h5", new, d / "ref_new.npy", "--ref-new", d / "ref.npy"]
    code, doc = _report(capsys, *args)
    assert code == 1
    assert doc["first_divergence"]["layer_new"] == "conv1"
    alt = _hyp(doc, "assume:new.backend=theano")
    assert alt["explains"] and alt["after"] < alt["before"]
    assert alt["action"] == "pass --assume new.backend=theano"
    code, doc = _report(capsys, *args, "--assume", "new.backend=theano")
    assert code == 0, doc["first_divergence"]


def test_axis_to_new_maps_image_layouts():
    assert axis_to_new(1, 4, CF, CL) == 3
    assert axis_to_new(2, 4, CF, CL) == 1
    assert axis_to_new(-1, 4, CL, CF) == 1
    assert axis_to_new(1, 4, CL, CF) == 2
    assert axis_to_new(0, 4, CF, CL) == 0
    assert axis_to_new(1, 4, CF, CF) == 1
    assert axis_to_new(1, 3, PLAIN, PLAIN) == 1


def test_config_diff_axis_follows_the_layout():
    """axis=1 on NCHW and axis=-1 on NHWC are the same axis; axis=1 on both is not, and is shown both ways."""
    assert config_diff({"axis": 1}, {"axis": -1}, 4, True, (CF, CL)) == []
    assert config_diff({"axis": 1}, {"axis": 3}, 4, True, (CF, CL)) == []
    assert config_diff({"axis": 1}, {"axis": 1}, 4, True, (CF, CL)) == [("axis", "1 (NCHW; = 3 in NHWC)", 1)]
    assert config_diff({"axis": -1}, {"axis": 1}, 4, False, (CL, CL)) == [("axis", -1, 1)]
    assert config_diff({"axis": -1}, {"axis": 3}, 4, False, (CL, CL)) == []
    # a flat or plain layout: the axis cannot be mapped, and is not blamed
    assert config_diff({"axis": 1}, {"axis": 1}, 2, True, (PLAIN, PLAIN)) == []


CUDNN = FIXTURES / "modern" / "tfk" / "cudnn_lstm_gru"


def test_cudnn_to_plain_migration_agrees_with_identical_weights(capsys):
    """OLD: tf-keras CuDNNLSTM, Bidirectional(CuDNNGRU), CuDNNGRU; NEW: the plain LSTM/GRU twin into which
    tf-keras's own loader converted those weights. Compared in effective form, every weight is identical."""
    code, doc = _report(capsys, f"{CUDNN}.h5", f"{CUDNN}.twin.h5", f"{CUDNN}.input.npy")
    assert code == 0, doc["first_divergence"]
    verdicts = {w["verdict"] for layer in doc["layers"] for w in layer["weights"]}
    assert verdicts == {"identical"}
    assert [layer["old"]["kind"] for layer in doc["layers"]] == ["CuDNNLSTM", "Bidirectional", "CuDNNGRU"]


def test_cudnn_weights_copied_raw_into_lstm_are_found(tmp_path, capsys):
    """A naive migration: the CuDNN kernels copied into the LSTM as stored (bias halves summed). The LSTM is the
    first divergence, its kernels 'different', and re-running it with OLD's weights in LSTM form fixes it."""
    new = tmp_path / "naive.h5"
    shutil.copy(f"{CUDNN}.twin.h5", new)
    with h5py.File(f"{CUDNN}.h5", "r", locking=False) as old, h5py.File(new, "r+", locking=False) as f:
        for name in ("kernel:0", "recurrent_kernel:0"):
            f[f"model_weights/cudnn_lstm_seq/cudnn_lstm_seq/lstm_cell/{name}"][...] = \
                old[f"model_weights/cudnn_lstm_seq/cudnn_lstm_seq/{name}"][...]
    code, doc = _report(capsys, f"{CUDNN}.h5", new, f"{CUDNN}.input.npy")
    assert code == 1
    first = doc["first_divergence"]
    assert first["layer_new"] == "cudnn_lstm_seq" and first["cause"] == "weights_changed"
    lstm = doc["layers"][0]
    assert [w["verdict"] for w in lstm["weights"]] == ["different", "different", "identical"]


BN_PAIR = FIXTURES / "pairs" / "channels_first_to_last_bn_correct"
BN_VAR = "model_weights/bn/bn/moving_variance:0"


def _bn_report(tmp_path, capsys, change) -> tuple[int, dict]:
    """The correct channels_first -> channels_last BatchNormalization pair (Keras 3 -> tf-keras), with NEW's
    moving_variance rewritten by `change` as a converter of Keras 1.2.2's running_std would."""
    new = tmp_path / "new.h5"
    shutil.copy(BN_PAIR / "new.h5", new)
    with h5py.File(new, "r+", locking=False) as f:
        f[BN_VAR][...] = change(f[BN_VAR][...])
    return _report(capsys, BN_PAIR / "old.h5", new, BN_PAIR / "ref.npy", "--ref-new", BN_PAIR / "ref_new.npy")


def test_bn_variance_squared_is_named_with_its_fix(tmp_path, capsys):
    """NEW's moving_variance is OLD's squared (running_std taken at its name): `bn_running_std`, not the generic
    weights_changed, verified by re-running NEW's layer with the square root."""
    import numpy as np
    code, doc = _bn_report(tmp_path, capsys, np.square)
    assert code == 1
    first = doc["first_divergence"]
    assert first["layer_new"] == "bn" and first["cause"] == "bn_running_std"
    hyp = _hyp(doc, "bn_running_std")
    assert hyp["explains"] and hyp["after"] < hyp["before"]
    assert "squared" in hyp["title"] and hyp["action"].startswith("take the square root of bn")


def test_bn_variance_square_rooted_is_named_with_its_fix(tmp_path, capsys):
    import numpy as np
    code, doc = _bn_report(tmp_path, capsys, np.sqrt)
    assert code == 1
    assert doc["first_divergence"]["cause"] == "bn_running_std"
    hyp = _hyp(doc, "bn_running_std")
    assert hyp["explains"] and "square root" in hyp["title"] and hyp["action"].startswith("square bn")


def test_bn_variance_otherwise_changed_stays_weights_changed(tmp_path, capsys):
    """A moving_variance changed some other way is not blamed on running_std."""
    code, doc = _bn_report(tmp_path, capsys, lambda v: v * 3 + 0.5)
    assert code == 1
    assert doc["first_divergence"]["cause"] == "weights_changed"
    assert all(h["code"] != "bn_running_std" for h in doc["first_divergence"]["hypotheses"])
