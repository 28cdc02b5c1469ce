"""Every layer of every fixture case against the outputs real Keras computed (never against kstep's own output).

Cases: ../shared/fixtures/legacy/cases (Keras 1.2.2 and 2.2.4 on Theano), tests/fixtures/legacy (Keras 1.2.2 on
Theano, made by tests/fixtures/make_legacy.py) and tests/fixtures/modern (tf-keras 2.21 and Keras 3.15, made by
tests/fixtures/make_fixtures.py): conftest.REAL_KERAS_MANIFESTS. The bar, per element and per layer, in float32:
|kstep - keras| <= 1e-5 + 1e-4 * |keras| (check_engine.py's defaults). A case whose model holds a layer kstep cannot
run (Lambda) must exit 3, name the layer as unsupported, and still write every upstream layer.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from kstep.cli import main
from tests.conftest import REAL_KERAS_MANIFESTS, SHARED, need_shared

ATOL, RTOL = 1e-5, 1e-4
UNSUPPORTED_CLASSES = {"Lambda", "TFOpLambda", "TensorFlowOpLayer"}


def _cases(manifest: Path, label: str):
    if not manifest.exists():
        return [pytest.param(manifest, None, id=f"{label}-absent")]
    cases = json.loads(manifest.read_text())["cases"]
    return [pytest.param(manifest.parent, c, id=f"{label}:{c['name']}") for c in cases]


ALL = [p for label, manifest in REAL_KERAS_MANIFESTS for p in _cases(manifest, label)]


@pytest.mark.parametrize("root,case", ALL)
def test_case_matches_keras(root, case, tmp_path, capsys):
    """kstep dump reproduces every required layer output of the case within tolerance."""
    if case is None:  # root is the missing manifest: skip (fail in CI) for ../shared, always fail for the repo's
        if SHARED in root.parents:
            need_shared(root)
        pytest.fail(f"{root} is missing: the repo's fixtures must be committed")
    out = tmp_path / "out.npz"
    code = main(["dump", str(root / case["model"]), str(root / case["input"]), "-o", str(out)])
    err = capsys.readouterr().err
    expected = np.load(root / case["expected"])
    blocked = [layer for layer in case["layers"] if layer["class"] in UNSUPPORTED_CLASSES]
    if blocked:
        assert code == 3, err
        assert "unsupported" in err and blocked[0]["key"].split("@")[0] in err
    else:
        assert code == 0, err
    got = np.load(out)
    optional = set(case.get("optional_keys") or [])
    downstream = False
    for layer in case["layers"]:
        key = layer["key"]
        if layer["class"] in UNSUPPORTED_CLASSES:
            downstream = True
        if key not in got.files:
            assert key in optional or downstream, f"{key} missing from kstep's dump"
            continue
        a, e = got[key], expected[key]
        assert a.shape == e.shape, f"{key}: shape {a.shape} vs Keras {e.shape}"
        bad = np.abs(a.astype(np.float64) - e) > ATOL + RTOL * np.abs(e.astype(np.float64))
        assert not bad.any(), (f"{key} ({layer['class']}): {int(bad.sum())} elements off, max abs "
                               f"{np.abs(a.astype(np.float64) - e).max():.3g}")
