"""One exit-code rule for every command that compares (`kstep.analysis.exit_code`): `report` and `fix` give the same
code for the same analysis. Before, `report` exited 0 when the inputs differed but the comparison stopped at an
unsupported layer before the difference showed (no first divergence, an unsupported row): 3 is the verdict there."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import h5py
import numpy as np
import pytest

from kstep.analysis import exit_code
from kstep.cli import exit_code_for, main
from kstep.errors import ExitCode
from kstep.repair.loop import Outcome, Stop
from kstep.repair.run import _exit_for
from tests.conftest import FIXTURES
from tests.tui import sample_analysis as sa

LAMBDA = FIXTURES / "modern" / "unsupported" / "tfk" / "lambda_unsupported"


def _lambda_first(tmp_path):
    """The real tf-keras Dense -> Lambda -> Dense fixture with its first Dense removed (config and weights group):
    the unsupported Lambda is the first layer, so differing inputs cannot show before it. Returns (model, ref,
    ref_new), ref_new = ref + 1."""
    model = tmp_path / "lambda_first.h5"
    shutil.copy(f"{LAMBDA}.h5", model)
    with h5py.File(model, "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"] = [e for e in config["config"]["layers"] if e["config"]["name"] != "pre"]
        f.attrs["model_config"] = json.dumps(config).encode()
        f["model_weights"].attrs["layer_names"] = np.array([b"lam", b"post"])
        del f["model_weights/pre"]
    ref = np.load(f"{LAMBDA}.input.npy")
    np.save(tmp_path / "ref_new.npy", ref + 1)
    return model, f"{LAMBDA}.input.npy", tmp_path / "ref_new.npy"


def test_differing_inputs_stopped_at_an_unsupported_layer_is_exit_3(tmp_path, capsys):
    """`report` and `fix` on the same pair: no first divergence, the first row unsupported: both exit 3 (report
    exited 0 before, fix 3)."""
    model, ref, ref_new = _lambda_first(tmp_path)
    pair = [str(model), str(model), str(ref), "--ref-new", str(ref_new), "--no-noise"]
    assert main(["report", *pair]) == ExitCode.UNSUPPORTED
    assert "no divergence before an unsupported layer" in capsys.readouterr().out
    assert main(["fix", *pair, "-o", str(tmp_path / "fixed.h5")]) == ExitCode.UNSUPPORTED
    assert not (tmp_path / "fixed.h5").exists()


def _cases():
    agree, unsupported, diverging = sa.agree(), sa.unsupported(), sa.sample()
    stopped = replace(unsupported, first_divergence=None)  # the unsupported row alone, as with differing inputs
    return [(agree, ExitCode.OK), (unsupported, ExitCode.UNSUPPORTED), (stopped, ExitCode.UNSUPPORTED),
            (diverging, ExitCode.DIVERGE)]


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("stop", list(Stop))
def test_report_and_fix_share_one_rule(index, stop):
    """For each kind of analysis, and whatever the rounds' stop reason: report's code == fix's code == the rule."""
    analysis, expected = _cases()[index]
    outcome = Outcome([], [], analysis, stop)
    assert exit_code(analysis) == exit_code_for(analysis) == _exit_for(outcome, analysis) == expected
