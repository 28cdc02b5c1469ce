"""The Keras 1.2.2 -> tf-keras 2.21 / Keras 3.15 / Keras 2.2.4 / Keras 1.2.2 'tf' migration pairs of
tests/fixtures/pairs (made by tests/fixtures/make_legacy_pairs.py; test_modern_pairs.py checks their first divergence
and cause like every pair's): kstep runs each side as the real Keras that wrote it did, and the fix a diagnosis
suggests, applied to the NEW file (to every layer with the same mistake), makes the pair agree. Also the comparison of a Keras 1 concat Merge's `concat_axis` with a Concatenate's `axis`."""

import json
import re
import shutil

import h5py
import numpy as np
import pytest

from kstep.cli import main
from kstep.compare.config_diff import axis_key, config_diff
from kstep.compare.layout import image
from tests.conftest import FIXTURES

PAIRS = FIXTURES / "pairs"
MANIFEST = json.loads((PAIRS / "manifest.json").read_text())["pairs"]
K1_PAIRS = [p for p in MANIFEST if p.get("generator") == "make_legacy_pairs.py"]
ATOL, RTOL = 1e-5, 1e-4  # test_real_keras_cases.py's bar
CF, CL = image("channels_first"), image("channels_last")


def test_the_k1_pairs_are_there():
    """Every cause class of the generator has its pair, each with its correct migration: the concat axis kept
    (functional merge and Sequential Merge -> tf-keras Concatenate, and merge -> a Keras 1 'tf' ordered merge),
    running_std squared, and the in-file fixable causes with NEW written by every Keras kstep fix writes for (tf-keras
    2.21 .h5 and JSON + weights, Keras 3.15 .keras, Keras 2.2.4 .h5, Keras 1.2.2 'tf' .h5)."""
    assert {p["cause"] for p in K1_PAIRS} == {"none", "data_format", "bn_running_std", "conv_kernel_layout",
                                              "flatten_dense_order", "theano_kernel_flip", "rnn_gate_order",
                                              "config:epsilon"}
    assert sum(p["correct"] for p in K1_PAIRS) == 13 and len(K1_PAIRS) == 26
    assert all(p["old_keras"] == "Keras 1.2.2 (theano backend, dim_ordering 'th')" for p in K1_PAIRS)
    assert {p["new_keras"] for p in K1_PAIRS} == {"tf-keras 2.21.0 (tensorflow backend)",
                                                  "keras 3.15.1 (numpy backend)",
                                                  "Keras 2.2.4 (theano backend, channels_last)",
                                                  "Keras 1.2.2 (theano backend, dim_ordering 'tf')"}
    formats = {(p["new_keras"].split(" (")[0], p["new"].rsplit(".", 1)[1]) for p in K1_PAIRS if not p["correct"]}
    assert formats == {("tf-keras 2.21.0", "h5"), ("tf-keras 2.21.0", "json"), ("keras 3.15.1", "keras"),
                       ("Keras 2.2.4", "h5"), ("Keras 1.2.2", "h5")}
    for p in K1_PAIRS:  # every broken pair of a fixable cause has its correct twin, made from the same OLD model
        if p["cause"] in FIXED_BY_TRANSFORM:
            assert _twin(p)["correct"], p["id"]


@pytest.mark.parametrize("side", ["old", "new"])
@pytest.mark.parametrize("pair", MANIFEST, ids=[p["id"] for p in MANIFEST])
def test_engine_matches_the_keras_that_wrote_each_side(pair, side, tmp_path, capsys):
    """`kstep dump` of each side on the input that side was fed gives every layer output that Keras computed."""
    model = PAIRS / pair[side]
    ref = PAIRS / pair["ref" if side == "old" else "ref_new"]
    out = tmp_path / "dump.npz"
    weights = ["--weights", str(PAIRS / pair["new_weights"])] if side == "new" and "new_weights" in pair else []
    assert main(["dump", str(model), str(ref), "-o", str(out)] + weights) == 0, capsys.readouterr().err
    got, expected = np.load(out), np.load(PAIRS / pair[f"outputs_{side}"])
    for key in expected.files:
        assert key in got.files, f"{key} missing from kstep's dump"
        a, e = got[key].astype(np.float64), expected[key].astype(np.float64)
        assert a.shape == e.shape, f"{key}: shape {a.shape} vs Keras {e.shape}"
        bad = np.abs(a - e) > ATOL + RTOL * np.abs(e)
        assert not bad.any(), f"{key}: {int(bad.sum())} elements off, max abs {np.abs(a - e).max():.3g}"


def _report(capsys, pair: dict, new) -> tuple[int, dict]:
    weights = ["--weights-new", str(PAIRS / pair["new_weights"])] if "new_weights" in pair else []
    code = main(["report", str(PAIRS / pair["old"]), str(new), str(PAIRS / pair["ref"]), "--ref-new",
                 str(PAIRS / pair["ref_new"]), "--format", "json"] + weights)
    return code, json.loads(capsys.readouterr().out)


def _twin(pair: dict) -> dict:
    """The correct pair made from the same OLD model with the same NEW writer."""
    def writer(p: dict) -> tuple[str, str, str]:
        return p["new_keras"], p["new"].rsplit(".", 1)[1], p.get("new_weights", "/").rsplit("/", 1)[1]

    found = [p for p in K1_PAIRS if p["correct"] and writer(p) == writer(pair)
             and (PAIRS / p["ref"]).read_bytes() == (PAIRS / pair["ref"]).read_bytes()]
    assert len(found) == 1, (pair["id"], [p["id"] for p in found])
    return found[0]


def _gate_order(w: np.ndarray) -> np.ndarray:
    """LSTM blocks stored i, c, f, o -> i, f, c, o along the last axis."""
    i, c, f, o = np.split(w, 4, axis=-1)
    return np.concatenate([i, f, c, o], axis=-1)


def _flatten_rows(w: np.ndarray) -> np.ndarray:
    """fc1's rows from Keras 1's C,H,W flatten order to H,W,C, for the cnn arch's (h, w, c) = (2, 2, 6)."""
    return w.reshape(6, 2, 2, -1).transpose(1, 2, 0, 3).reshape(24, -1)


def _dataset(f: h5py.File, pair: dict, layer: str, name: str) -> h5py.Dataset:
    """NEW's weight `name` of `layer`. A legacy file: the one dataset called `name` (tf-keras `kernel:0`; Keras
    2.2.4 on Theano `kernel`) under the layer's group (model_weights/ in a full model; tf-keras nests an RNN's under
    its cell). Keras 3's weights layout (tf-keras's save_weights to *.weights.h5): layers/<snake-case class>[_k]/
    vars/<i>, k counting the earlier layers of that class, i the weight's position (only `kernel`, 0, is needed)."""
    if "layers" in f:
        config = json.loads((PAIRS / pair["new"]).read_text())["config"]["layers"]
        cls = next(ly["class_name"] for ly in config if ly["config"]["name"] == layer)
        same = [ly["config"]["name"] for ly in config if ly["class_name"] == cls]
        k = same.index(layer)
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower().replace("2_d", "2d")
        return f["layers"][snake + (f"_{k}" if k else "")]["vars"][str({"kernel": 0}[name])]
    group = f["model_weights"][layer] if "model_weights" in f else f[layer]
    found: list[h5py.Dataset] = []
    group.visititems(lambda path, obj: found.append(obj) if path.rsplit("/", 1)[-1].split(":")[0] == name else None)
    assert len(found) == 1, (group.name, name)
    return found[0]


FIXED_BY_TRANSFORM = {  # cause -> (the weights it concerns, the fix); kstep's own transforms are not used
    "conv_kernel_layout": (("kernel",), lambda w: np.swapaxes(w, 0, 1)),
    "theano_kernel_flip": (("kernel",), lambda w: w[::-1, ::-1]),
    "rnn_gate_order": (("kernel", "recurrent_kernel", "bias"), _gate_order),
    "flatten_dense_order": (("kernel",), _flatten_rows),
}
H5_FIXABLE = [p for p in K1_PAIRS if p["cause"] in FIXED_BY_TRANSFORM and not p["new"].endswith(".keras")]


@pytest.mark.parametrize("pair", H5_FIXABLE, ids=[p["id"] for p in H5_FIXABLE])
def test_fixing_every_named_layer_in_the_file_makes_the_pair_agree(pair, tmp_path, capsys):
    """The first divergent layer and every layer of `same_mistake_in` are named by kstep's action ('the same fix
    applies to ...'); the fix written into those layers' datasets of a copy of NEW makes the pair agree (exit 0),
    and fixing the first layer alone does not when others share the mistake."""
    code, doc = _report(capsys, pair, PAIRS / pair["new"])
    first = doc["first_divergence"]
    assert code == 1 and first["cause"] == pair["cause"]
    action = next(h for h in first["hypotheses"] if h["explains"])["action"]
    others = pair.get("same_mistake_in", [])
    if others:
        assert f"the same fix applies to {', '.join(others)} " in action, action
    names, fix = FIXED_BY_TRANSFORM[pair["cause"]]
    json_arch = "new_weights" in pair  # architecture JSON: the weights file is edited (its layer groups at the root)
    for layers, agrees in (([first["layer_new"]], not others), ([first["layer_new"], *others], True)):
        new = tmp_path / "new.h5"
        shutil.copy(PAIRS / pair["new_weights" if json_arch else "new"], new)
        with h5py.File(new, "r+", locking=False) as f:
            for layer in layers:
                for name in names:
                    data = _dataset(f, pair, layer, name)
                    data[...] = fix(data[...])
        fixed = (dict(pair, new_weights=str(new)), PAIRS / pair["new"]) if json_arch else (pair, new)
        assert (_report(capsys, *fixed)[0] == 0) == agrees, layers


AXIS_PAIRS = [p for p in MANIFEST if p["cause"] == "data_format" and p["expected_first_divergent_layer_new"] == "cat"]


@pytest.mark.parametrize("pair", AXIS_PAIRS, ids=[p["id"] for p in AXIS_PAIRS])
def test_the_suggested_concat_axis_makes_the_pair_agree(pair, tmp_path, capsys):
    """The action 'set axis=K on cat' (concat_axis=K for a Keras 1 merge), written into NEW's model_config, makes
    the whole pair agree (exit 0)."""
    code, doc = _report(capsys, pair, PAIRS / pair["new"])
    assert code == 1
    action = next(h for h in doc["first_divergence"]["hypotheses"] if h["explains"])["action"]
    found = re.match(r"set (axis|concat_axis)=(-?\d+) on cat ", action)
    assert found, action
    new = tmp_path / "new.h5"
    shutil.copy(PAIRS / pair["new"], new)
    with h5py.File(new, "r+", locking=False) as f:
        config = json.loads(f.attrs["model_config"])
        layer = next(ly for ly in config["config"]["layers"] if ly["config"]["name"] == "cat")
        assert layer["class_name"] == {"axis": "Concatenate", "concat_axis": "Merge"}[found.group(1)]
        layer["config"][found.group(1)] = int(found.group(2))
        f.attrs["model_config"] = json.dumps(config)
    code, doc = _report(capsys, pair, new)
    assert code == 0, doc["first_divergence"]


BN_PAIR = next(p for p in MANIFEST if p["id"] == "k1_th_bn_running_std_squared")


def test_the_suggested_square_root_makes_the_bn_pair_agree(tmp_path, capsys):
    """NEW's moving_variance is Keras 1.2.2's running_std squared: taking its square root, as the action says,
    makes the pair agree; bn_running_std is named ahead of the generic weights_changed."""
    code, doc = _report(capsys, BN_PAIR, PAIRS / BN_PAIR["new"])
    assert code == 1
    hyps = doc["first_divergence"]["hypotheses"]
    assert hyps[0]["code"] == "bn_running_std" and hyps[0]["explains"]
    assert hyps[0]["action"].startswith("take the square root of bn's moving_variance")
    new = tmp_path / "new.h5"
    shutil.copy(PAIRS / BN_PAIR["new"], new)
    with h5py.File(new, "r+", locking=False) as f:
        var = f["model_weights/bn/bn/moving_variance:0"]
        var[...] = np.sqrt(var[...])
    code, doc = _report(capsys, BN_PAIR, new)
    assert code == 0, doc["first_divergence"]


def test_merge_concat_axis_changed_within_one_layout_is_named_as_concat_axis(capsys):
    """Keras 1 'tf' merge(concat_axis=-1) vs the same model with concat_axis=1 (both real Keras 1.2.2 files, one
    layout): no layout to blame, the parameter is: config:concat_axis, fixed by setting OLD's value."""
    right, wrong = PAIRS / "k1_th_to_tf_merge_concat_correct", PAIRS / "k1_th_to_tf_merge_concat_axis"
    code = main(["report", str(right / "new.h5"), str(wrong / "new.h5"), str(right / "ref_new.npy"), "--format",
                 "json"])
    first = json.loads(capsys.readouterr().out)["first_divergence"]
    assert code == 1 and first["layer_new"] == "cat" and first["cause"] == "config:concat_axis"
    hyp = next(h for h in first["hypotheses"] if h["explains"])
    assert hyp["action"] == "set concat_axis=-1 on cat" and hyp["after"] == 0


def test_concat_merge_axis_compares_as_a_concatenate_axis():
    """A Keras 1 merge(mode='concat')'s concat_axis is the Concatenate's axis, mapped through the layouts."""
    merge = {"mode": "concat", "concat_axis": 1, "dot_axes": -1}
    assert axis_key(merge) == "concat_axis" and axis_key({"axis": 2}) == "axis"
    assert axis_key({"mode": "sum", "concat_axis": -1}) is None
    assert config_diff(merge, {"axis": -1}, 4, True, (CF, CL)) == []
    assert config_diff(merge, {"axis": 1}, 4, True, (CF, CL)) == [("axis", "1 (NCHW; = 3 in NHWC)", 1)]
    rows = dict(merge, concat_axis=2)  # any axis: NCHW rows are NHWC axis 1
    assert config_diff(rows, {"axis": 1}, 4, True, (CF, CL)) == []
    assert config_diff(rows, {"axis": 2}, 4, True, (CF, CL)) == [("axis", "2 (NCHW; = 1 in NHWC)", 2)]
    # Merge vs Merge, same layout: -1 and 3 are one axis; another mode is compared as before
    assert config_diff(merge, dict(merge, concat_axis=-3), 4) == []
    assert config_diff(dict(merge, concat_axis=-1), dict(merge, concat_axis=3), 4) == []
    assert config_diff(merge, dict(merge, mode="sum"), 4) == [("mode", "concat", "sum")]
