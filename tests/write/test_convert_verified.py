"""kstep convert's target writers against the record real Keras verified (tests/fixtures/verify_convert.py ->
tests/fixtures/convert_verified.json): each case is refused with the recorded reason, or written with the recorded
content digest, the one tf_keras 2.21 / Keras 3.15 loaded with their standard loaders and found reproducing the
fixture's outputs. A written file whose digest changed has not been verified: re-run the script (it needs the modern
oracle venv)."""

from __future__ import annotations

import json

import pytest

from kstep.convert.target import NotExpressible
from tests.conftest import FIXTURES
from tests.repair.record import digest
from tests.write.record import RECORD, SUFFIX, Case, cases, convert

ENTRIES = {e["id"]: e for e in json.loads(RECORD.read_text())["conversions"]}
CASES = cases()
UNRUN = {"k3/conv2d_channels_first->tf.keras": "TensorFlow's CPU kernels cannot run a channels_first Conv2D"}
"""Written files real Keras loads but cannot run on this machine, with why (the baking pass's --layout channels_last
is what makes such a model runnable on a CPU; Keras 3 is run on JAX, which can)."""


def test_every_case_is_recorded():
    """A case added to tests/write/record.py must go through real Keras (the script) before CI accepts it."""
    missing = [c.id for c in CASES if c.id not in ENTRIES]
    assert not missing, f"not verified by tests/fixtures/verify_convert.py: {missing}"


def test_no_written_file_is_wrong():
    """Every written file loaded in real Keras and reproduced the fixture within 1e-4 + 1e-4·|expected|, except the
    listed ones real Keras cannot run here (and those still loaded)."""
    written = [e for e in ENTRIES.values() if e["written"]]
    assert len(written) >= 60
    for e in written:
        assert e["keras"]["loaded"], e
        if e["id"] in UNRUN:
            assert e["keras"]["max_abs"] is None and not e["keras"]["ok"], e
        else:
            assert e["keras"]["ok"], e


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conversion_matches_record(case: Case, tmp_path):
    """The same refusal, or the same file (digest) real Keras verified."""
    entry = ENTRIES[case.id]
    out = tmp_path / f"out{SUFFIX[case.target]}"
    try:
        convert(FIXTURES / case.model, out, case.target)
    except NotExpressible as exc:
        assert not entry["written"], f"refused now ({exc.line()}), written when verified"
        assert exc.line() == entry["refused"]
        return
    assert entry["written"], f"written now, refused when verified: {entry['refused']}"
    assert digest(out) == entry["digest"], "OUT changed since real Keras verified it: run verify_convert.py"
