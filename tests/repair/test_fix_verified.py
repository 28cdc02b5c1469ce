"""`kstep fix` on every migration pair, against the record real Keras verified (tests/fixtures/verify_fixes.py ->
tests/fixtures/fix_verified.json): the same exit code, FIXED written exactly when recorded, and each FIXED's content
digest the one that NEW's own Keras loaded with its standard loader and found reproducing OLD's outputs. A FIXED
whose digest changed has not been verified: re-run the script (it needs the oracle venvs)."""

import json

import pytest

from kstep.cli import main
from tests.conftest import need_shared
from tests.repair.record import RECORD, ROOTS, digest, fix_argv, runs, suffix

ENTRIES = {(e["source"], e["id"]): e for e in json.loads(RECORD.read_text())["pairs"]}
RUNS = runs()


def test_every_pair_is_recorded():
    """A pair added to a manifest must go through real Keras (the script) before CI accepts it."""
    missing = [f"{s}/{run_id}" for s, _, run_id, _ in RUNS if (s, run_id) not in ENTRIES]
    assert not missing, f"not verified by tests/fixtures/verify_fixes.py: {missing}"


def test_record_is_all_verified():
    """Every FIXED in the record loaded in real Keras and reproduced OLD within 1e-4 + 1e-4·|old|."""
    written = [e for e in ENTRIES.values() if e["written"]]
    assert len(written) >= 15
    for e in written:
        assert e["keras"]["loaded"] and e["keras"]["ok"], e
        assert e["exit"] == 0, e


@pytest.mark.parametrize("source,pair,run_id,extra", RUNS, ids=[f"{s}/{r}" for s, _, r, _ in RUNS])
def test_fix_matches_record(source, pair, run_id, extra, tmp_path, capsys):
    if source == "shared":
        need_shared(ROOTS[source] / "manifest.json")
    entry = ENTRIES[(source, run_id)]
    out = tmp_path / f"fixed{suffix(pair)}"
    code = main(fix_argv(source, pair, out, extra))
    captured = capsys.readouterr()
    assert code == entry["exit"], captured.err
    assert out.exists() == entry["written"], captured.err
    assert [p.name for p in tmp_path.iterdir()] == ([out.name] if entry["written"] else [])  # no temp left
    if entry["written"]:
        assert digest(out) == entry["digest"], "FIXED changed since real Keras verified it: run verify_fixes.py"
        assert "it agrees with OLD" in captured.err
        assert "## Fixes applied" in captured.out
        if extra:
            assert "| weights_changed |" in captured.out  # the accepted weights are listed as a fix
    elif pair["correct"]:
        assert "nothing to fix" in captured.err
    else:
        assert "nothing written" in captured.err
        if entry["cause"] in ("input_scaling_0_255_vs_0_1", "rgb_vs_bgr_input"):
            assert "--pre-new" in captured.err and "--pre-new" in captured.out
