"""`kstep report` on every migration pair in ../shared/fixtures/legacy/pairs (real Keras outputs, verified causes):
exit 1 with the stated first divergent layer and cause for broken pairs, exit 0 for correct ones."""

import json

import pytest

from kstep.cli import main
from tests.conftest import LEGACY, need_shared

PAIRS = LEGACY / "pairs"

# The manifest names causes in its own words; kstep's cause codes (issue: "they correspond to these codes").
CAUSE_CODES = {
    "theano_kernels_not_flipped": "theano_kernel_flip",
    "dense_after_flatten_row_order": "flatten_dense_order",
    "input_scaling_0_255_vs_0_1": "input_scale",
    "rgb_vs_bgr_input": "input_channel_order",
    "lstm_gate_order": "rnn_gate_order",
    "recurrent_activation_changed": "recurrent_activation",
    "gru_reset_after_default": "gru_reset_after",
    "batchnorm_epsilon_changed": "config:epsilon",
    "weights_changed_retrained": "weights_changed",
}


def _pairs():
    manifest = PAIRS / "manifest.json"
    if not manifest.exists():
        return [pytest.param(None, id="pairs-absent")]
    return [pytest.param(p, id=p["id"]) for p in json.loads(manifest.read_text())["pairs"]]


def check_pair(root, pair: dict, cause: str | None, capsys) -> None:
    """`kstep report --format json` on one manifest pair: exit code, first divergent layers, verified cause."""
    argv = ["report", str(root / pair["old"]), str(root / pair["new"]), str(root / pair["ref"]),
            "--ref-new", str(root / pair["ref_new"]), "--format", "json"]
    if "new_weights" in pair:  # NEW is an architecture JSON with its weights file
        argv += ["--weights-new", str(root / pair["new_weights"])]
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
        assert first["cause"] == cause
        explained = [h for h in first["hypotheses"] if h["explains"]]
        assert explained and explained[0]["code"] == first["cause"]
        assert explained[0]["after"] < float(explained[0]["before"])  # a shape mismatch's gap is "inf"
        assert explained[0]["action"]


@pytest.mark.parametrize("pair", _pairs())
def test_pair(pair, capsys):
    """The JSON report's first_divergence names the manifest's layer and cause (or none for a correct pair)."""
    need_shared(PAIRS / "manifest.json")
    check_pair(PAIRS, pair, CAUSE_CODES.get(pair["cause"]), capsys)


def test_report_is_byte_identical_across_runs(tmp_path):
    """Same inputs, same report bytes (no timestamps, stable key order)."""
    pair = need_shared(PAIRS / "cnn_tfk_noflip")
    outs = []
    out = tmp_path / "r.json"
    for _ in range(2):
        assert main(["report", str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"),
                     "--ref-new", str(pair / "ref_new.npy"), "-o", str(out)]) == 1
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_report_refuses_to_overwrite_an_input(tmp_path, capsys):
    """-o naming an input file (here through a symlink) is refused, the input untouched."""
    pair = need_shared(PAIRS / "cnn_tfk_noflip")
    link = tmp_path / "link.h5"
    link.symlink_to(pair / "new.h5")
    before = (pair / "new.h5").read_bytes()
    assert main(["report", str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"),
                 "--ref-new", str(pair / "ref_new.npy"), "-o", str(link)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (pair / "new.h5").read_bytes() == before


def test_pre_new_fix_makes_the_scale_pair_agree(capsys):
    """The action the diagnosis suggests for the 0..255 pair (--pre-new scale:1/255) really closes the gap."""
    pair = need_shared(PAIRS / "cnn_tfk_scale255")
    argv = ["report", str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"),
            "--ref-new", str(pair / "ref_new.npy"), "--format", "json"]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    action = next(h for h in doc["first_divergence"]["hypotheses"] if h["explains"])["action"]
    flag, value = action.removeprefix("pass ").split(" ", 1)
    assert main(argv + [flag, value]) == 0, capsys.readouterr().out
