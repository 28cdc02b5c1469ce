"""End to end on small generated Keras-2-style .h5 files (h5py, no Keras): outputs that overflow float32 to inf must
never agree when their inf patterns differ; zero-size inputs and layers end in a report or one line, never a
traceback."""

import json
import math

import numpy as np
import pytest

from kstep.cli import main
from kstep.compare.analyze import Comparison
from kstep.compare.judge import NO_ELEMENTS
from kstep.compare.tolerance import NOISE_UNMEASURABLE
from kstep.options import CompareOptions
from tests.hostile.make_hostile import write_model


def _model(path, activation, kernel, units=2):
    """x (None, 2) -> Dense(units, activation) as the output; the kernel given, zero bias."""
    layers = [
        {"name": "x", "class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 2], "dtype": "float32", "name": "x"}, "inbound_nodes": []},
        {"name": "dense", "class_name": "Dense",
         "config": {"name": "dense", "units": units, "activation": activation, "use_bias": True},
         "inbound_nodes": [[["x", 0, 0, {}]]]},
    ]
    config = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
                                                "output_layers": [["dense", 0, 0]]}}
    weights = {"dense": [("dense/kernel:0", np.asarray(kernel, np.float32)),
                         ("dense/bias:0", np.zeros(units, np.float32))]}
    return write_model(path, config, weights, ["x", "dense"])


@pytest.fixture
def overflow(tmp_path):
    """OLD (linear) outputs [inf, -inf] in float32 (finite +-6e38 in float64, so the noise is inf); NEW, the same
    weights with relu, outputs [inf, 0]."""
    kernel = [[3e38, -3e38], [3e38, -3e38]]
    old = _model(tmp_path / "old.h5", "linear", kernel)
    new = _model(tmp_path / "new.h5", "relu", kernel)
    ref = tmp_path / "ref.npy"
    np.save(ref, np.ones((1, 2), np.float32))
    return str(old), str(new), str(ref)


def test_differing_inf_pattern_in_the_output_is_a_divergence(overflow, capsys):
    """[inf, -inf] vs [inf, 0] exits 1 (it said 'agree' under a noise-widened atol of 10 x inf), the row's
    tolerance falls back to 1e-5 and its note says the noise could not be measured."""
    old, new, ref = overflow
    assert main(["report", old, new, ref, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    row = doc["layers"][0]
    assert row["status"] == "diverge" and row["note"] == NOISE_UNMEASURABLE
    assert row["propagated"]["tolerance"]["atol"] == 1e-5 and row["propagated"]["tolerance"]["noise_floor"] == "inf"
    assert doc["first_divergence"]["layer_old"] == "dense" and doc["verdicts"][0]["outputs_agree"] is False


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("atol", [1e300, math.inf])
def test_no_atol_hides_it(overflow, atol):
    """Not even an infinite atol (which the CLI refuses; the comparison must not rely on that): a divergence at
    dense, and the final output sample does not agree."""
    old, new, ref = overflow
    cmp = Comparison(old, new, ref, options=CompareOptions(atol=atol))
    try:
        for _ in cmp.run():
            pass
        a = cmp.analysis()
    finally:
        cmp.close()
    assert not a.agree and a.first_divergence is not None and a.first_divergence.old_layer == "dense"
    assert [v.outputs_agree for v in a.verdicts] == [False]


def test_the_same_inf_pattern_still_agrees(overflow, capsys):
    """OLD against itself: the same inf at the same places agrees (exit 0) in the report and the piped app."""
    old, _, ref = overflow
    assert main(["report", old, old, ref]) == 0
    assert "the models agree" in capsys.readouterr().out
    assert main([old, old, ref]) == 0
    assert "the models agree" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["report", "app", "dump"])
def test_a_reference_batch_of_zero_is_refused_in_one_line(tmp_path, capsys, command):
    """A batch of 0 samples would run nothing and 'agree' vacuously: exit 2, one line naming the file."""
    model = str(_model(tmp_path / "m.h5", "linear", np.eye(2)))
    ref = tmp_path / "empty.npy"
    np.save(ref, np.zeros((0, 2), np.float32))
    argv = {"report": ["report", model, model, str(ref)], "app": [model, model, str(ref)],
            "dump": ["dump", model, str(ref), "-o", str(tmp_path / "out.npz")]}[command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "empty.npy" in err and "0 samples" in err and len(err.splitlines()) == 1
    assert "Traceback" not in captured.err and not (tmp_path / "out.npz").exists()


def test_a_zero_unit_layer_compares_zero_elements(tmp_path, capsys):
    """Dense(0) as the output: the report, the piped app, dump and inspect finish; the row says it compared 0
    elements and the sample verdicts have no top-1 class."""
    model = str(_model(tmp_path / "zero.h5", "linear", np.zeros((2, 0)), units=0))
    ref = tmp_path / "ref.npy"
    np.save(ref, np.ones((3, 2), np.float32))
    assert main(["report", model, model, str(ref), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"][0]["note"] == NO_ELEMENTS and doc["layers"][0]["old"]["shape"] == [3, 0]
    assert [v["top1_old"] for v in doc["verdicts"]] == [None, None, None]
    assert main([model, model, str(ref)]) == 0
    assert "| 0 | yes | - | - | - |" in capsys.readouterr().out  # sample, agree, max abs, top-1 OLD, top-1 NEW
    assert main(["dump", model, str(ref), "-o", str(tmp_path / "z.npz")]) == 0
    with np.load(tmp_path / "z.npz") as z:
        assert z["dense"].shape == (3, 0)
    assert main(["inspect", model]) == 0
    assert "Traceback" not in capsys.readouterr().err
