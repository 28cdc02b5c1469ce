"""kstep report / kstep OLD NEW REF end to end on small real files: exit codes, formats, retolerance."""

import json

import numpy as np

from kstep.cli import main
from kstep.compare.analyze import Comparison
from kstep.options import CompareOptions as Options
from tests.conftest import LEGACY, need_shared

PAIRS = LEGACY / "pairs"


def test_unsupported_layer_stops_the_comparison_with_exit_3(capsys):
    """A Lambda in both models: rows before it agree, the Lambda row is unsupported, exit 3 (no divergence first)."""
    model = need_shared(LEGACY / "cases" / "k1" / "lambda.h5")
    ref = LEGACY / "cases" / "k1" / "lambda.input.npy"
    assert main(["report", str(model), str(model), str(ref), "--format", "json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    statuses = {row["old"]["key"]: row["status"] for row in doc["layers"]}
    assert statuses["dense"] == "agree"
    assert statuses["lambda_affine"] == "unsupported"
    assert doc["first_divergence"]["cause"] == "unsupported_layer"
    assert doc["agree"] is False


def test_piped_app_prints_markdown_with_report_exit_code(capsys):
    """`kstep OLD NEW REF` with stdout not a terminal prints the Markdown report and exits like report."""
    pair = need_shared(PAIRS / "cnn_tfk_noflip")
    code = main([str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"),
                 "--ref-new", str(pair / "ref_new.npy")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("# kstep report") and "First divergence: conv1 (theano_kernel_flip)" in out


def test_html_and_md_outputs_by_suffix(tmp_path):
    pair = need_shared(PAIRS / "cnn_tfk_correct")
    for name in ("r.html", "r.md"):
        out = tmp_path / name
        assert main(["report", str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"),
                     "--ref-new", str(pair / "ref_new.npy"), "-o", str(out)]) == 0
        text = out.read_text()
        assert ("<!DOCTYPE html>" in text) == name.endswith(".html")
        assert "agree within tolerance" in text


def test_retolerance_rejudges_without_rerunning():
    """A huge atol makes the unflipped-kernel pair agree; the default brings the divergence back."""
    pair = need_shared(PAIRS / "cnn_tfk_noflip")
    cmp = Comparison(str(pair / "old.h5"), str(pair / "new.h5"), str(pair / "ref.npy"), str(pair / "ref_new.npy"),
                     Options())
    try:
        for _ in cmp.run():
            pass
        assert cmp.analysis().first_divergence.old_layer == "conv1"
        calls = []
        original = cmp.new_trace.executor.step
        cmp.new_trace.executor.step = lambda *a, **k: calls.append(1) or original(*a, **k)
        loose = cmp.retolerance(10.0, 1e-4)
        assert loose.first_divergence is None and loose.agree
        assert not calls
        strict = cmp.retolerance(None, 1e-4)
        assert strict.first_divergence.cause == "theano_kernel_flip"
    finally:
        cmp.close()


def test_bad_reference_input_is_one_line(tmp_path, capsys):
    """A reference with the wrong shape: exit 2, one line naming the file and the expected shape."""
    import numpy as np

    pair = need_shared(PAIRS / "cnn_tfk_correct")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 5, 5), np.float32))
    assert main(["report", str(pair / "old.h5"), str(pair / "new.h5"), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "expects" in err[0]


def test_layer_missing_in_new_is_architecture_changed(tmp_path, capsys):
    """A layer present in OLD only (not an identity) is the first divergence, cause architecture_changed."""
    from tests.hostile import make_hostile as mk

    old = mk.valid_model(tmp_path)
    layers = mk._layers()
    extra = {"name": "scale", "class_name": "Dense", "config": {"name": "scale", "units": 3, "activation": "tanh",
                                                                "use_bias": False},
             "inbound_nodes": [[["dense", 0, 0, {}]]]}
    layers.insert(2, extra)
    layers[3]["inbound_nodes"] = [[["scale", 0, 0, {}]]]
    rng = np.random.default_rng(0)
    weights = {"dense": [("dense/kernel:0", rng.normal(size=(4, 3)).astype(np.float32)),
                         ("dense/bias:0", rng.normal(size=3).astype(np.float32))],
               "scale": [("scale/kernel:0", np.eye(3, dtype=np.float32) * 2)]}
    new = mk.write_model(tmp_path / "new.h5", mk.model_config(layers), weights,
                         ["x", "dense", "scale", "reshape", "flatten"])
    ref = mk.valid_input(tmp_path)
    assert main(["report", str(old), str(new), str(ref), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    first = doc["first_divergence"]
    assert first["cause"] == "architecture_changed" and first["layer_new"] == "scale" and first["layer_old"] is None
    assert [r["status"] for r in doc["layers"]][:3] == ["agree", "unmatched", "inherited"] or \
        doc["layers"][1]["status"] == "unmatched"


def test_input_mean_subtracted_is_diagnosed(tmp_path, capsys):
    """NEW fed the reference minus a per-feature mean: input_scale with a mean: action that closes the gap."""
    from tests.hostile import make_hostile as mk

    model = mk.valid_model(tmp_path)
    ref = mk.valid_input(tmp_path)
    shifted = tmp_path / "shifted.npy"
    x = np.load(ref)
    np.save(shifted, x - np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    assert main(["report", str(model), str(model), str(ref), "--ref-new", str(shifted), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    first = doc["first_divergence"]
    assert first["reason"] == "input" and first["cause"] == "input_scale"
    action = next(h["action"] for h in first["hypotheses"] if h["explains"])
    assert action.startswith("pass --pre-new mean:")
    assert main(["report", str(model), str(model), str(ref), "--ref-new", str(shifted),
                 "--pre-new", action.split()[-1]]) == 0
