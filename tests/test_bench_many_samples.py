"""benchmarks/many_samples.py's helpers that need no TensorFlow: argument parsing, the memory ceiling and the peak
RSS it measures, the seeded REF files, reading kstep's report, the table and the targets (the script is run by hand,
so these keep it from rotting)."""

import argparse
import dataclasses
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("many_samples", ROOT / "benchmarks" / "many_samples.py")
ms = importlib.util.module_from_spec(_spec)
sys.modules["many_samples"] = ms  # dataclasses look their module up while the class is made
_spec.loader.exec_module(ms)

GIB = 1024**3


def _row(case="resnet50", n=256, kstep_s=100.0, tf_s=60.0, rss=1500.0, rc=1, ok=True):
    tf = ms.Run(s=tf_s, rc=0, peak_rss_mib=1200.0, foreign=0.05)
    return ms.Row(case, n, tf, ms.Run(s=kstep_s, rc=rc, peak_rss_mib=rss, foreign=0.0), ok)


def test_parse_sizes():
    """Sizes keep their order; zero, repeats, empty lists and words are usage errors."""
    assert ms.parse_sizes("1,32,256,1024") == (1, 32, 256, 1024)
    assert ms.parse_sizes("256, 64") == (256, 64)
    for bad in ("", "0,1", "32,32", "a,b", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            ms.parse_sizes(bad)


@pytest.mark.parametrize("text,expected", [("8G", 8 * GIB), ("8GiB", 8 * GIB), ("512M", 512 * 1024**2),
                                           ("1.5g", int(1.5 * GIB)), ("4096", 4096), ("none", None), ("0", None)])
def test_parse_bytes(text, expected):
    """Binary units, with or without 'iB'; 'none' and '0' switch the ceiling off."""
    assert ms.parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["lots", "8 X", "-1G", ""])
def test_parse_bytes_rejects(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        ms.parse_bytes(bad)


def test_parse_args_defaults(tmp_path):
    """The defaults are the issue's: N = 1, 32, 64, 256, 1024 (64 for the flat time per sample), 10,000 CNN
    samples, an 8 GiB ceiling."""
    args = ms.parse_args(["--workdir", str(tmp_path)])
    assert args.sizes == (1, 32, 64, 256, 1024) and args.cnn_samples == 10000 and args.ceiling == 8 * GIB
    assert args.json == str(tmp_path / "many_samples.json")
    assert ms.parse_args(["--ceiling", "none"]).ceiling is None


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_ceiling_fails_a_big_allocation_and_rss_is_measured():
    """Under the ceiling a 64 MiB array runs and its peak RSS is seen; 1 GiB fails with a MemoryError, not a swap."""
    alloc = "import numpy as np; a = np.ones({} * 2**20, np.uint8); print(a.sum())"
    prefix = ms.ceiling_prefix(ms.parse_bytes("512M"))
    assert prefix == ["prlimit", f"--as={512 * 1024**2}", "--"]
    small = ms.measure(prefix + [sys.executable, "-c", alloc.format(64)], timeout=60)
    assert small.rc == 0 and small.peak_rss_mib >= 64
    big = ms.measure(prefix + [sys.executable, "-c", alloc.format(1024)], timeout=60)
    assert big.rc == 1 and "MemoryError" in big.stderr_tail
    assert ms.ceiling_prefix(None) == []


def test_write_ref_is_seeded_per_sample(tmp_path):
    """Sample i is the same in every file, float32 in [0, 1); a file of the right shape is kept as it is."""
    two, three = str(tmp_path / "two.npy"), str(tmp_path / "three.npy")
    ms.write_ref(two, 2, (4, 4, 3))
    ms.write_ref(three, 3, (4, 4, 3))
    a, b = np.load(two), np.load(three)
    assert a.dtype == np.float32 and b.shape == (3, 4, 4, 3)
    np.testing.assert_array_equal(a, b[:2])
    assert 0 <= b.min() and b.max() < 1 and not np.array_equal(b[0], b[1])
    ms.write_ref(two, 2, (4, 4, 3), seed=1)  # same shape: kept
    np.testing.assert_array_equal(np.load(two), a)
    assert ms.ref_bytes(2, (4, 4, 3)) == 2 * 48 * 4 + 128


def test_read_report(tmp_path):
    """The facts taken from a kstep JSON report; a missing file or another JSON is None."""
    doc = {"schema": "kstep.report/1", "agree": False, "first_divergence": {"layer_old": "conv2"},
           "verdicts": [{"top1_old": 3, "top1_new": 3}, {"top1_old": 1, "top1_new": 7}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    assert ms.read_report(str(path)) == {"schema": "kstep.report/1", "agree": False, "first_divergence": "conv2",
                                         "verdicts": 2, "top1_flips": 1}
    path.write_text('{"schema": "other"}')
    assert ms.read_report(str(path)) is None
    path.write_text("Traceback (most recent call last):")
    assert ms.read_report(str(path)) is None
    assert ms.read_report(str(tmp_path / "missing.json")) is None


def test_stderr_tail():
    assert ms.stderr_tail("\nTraceback\n  File x\n\nMemoryError: Unable to allocate\n", lines=2) == \
        "File x | MemoryError: Unable to allocate"


def test_table_rows_and_failures():
    """One line per row, every line with the header's cell count; a failed run says its exit and has no per-sample
    time."""
    rows = [_row(n=1, kstep_s=3.2, tf_s=12.8), _row(n=256, rc=1, ok=False)]
    lines = ms.format_table(rows).splitlines()
    assert len(lines) == 4 and len({ln.count("|") for ln in lines}) == 1
    assert "| resnet50 | 1 | 3.2 | 12.8 | 0.25 |" in lines[2] and "| 3200.0 |" in lines[2]
    assert "failed: exit 1" in lines[3] and "| 100.0 | 60.0 | - |" in lines[3]  # time to failure, no ratio
    assert rows[0].per_sample_s == pytest.approx(3.2) and rows[1].per_sample_s is None and rows[1].ratio is None


def test_rows_round_trip_through_json():
    """--table-from rebuilds the rows that the run wrote (with its extra derived keys) as they were."""
    rows = [_row(n=32), _row("cnn", 10000, ok=False)]
    doc = {"rows": [dict(dataclasses.asdict(r), ratio=r.ratio, kstep_exit=r.kstep_exit) for r in rows]}
    assert ms.rows_from_json(json.loads(json.dumps(doc))) == rows


def test_targets_met_and_missed():
    """RSS and ratio at N=256, flatness over 64..1024, the CNN case: met, missed, or not measured."""
    good = [_row(n=256, kstep_s=100.0), _row(n=1024, kstep_s=440.0), _row("cnn", 10000)]
    assert [t.met for t in ms.judge_targets(good)] == [True, True, True, True]
    slow = [_row(n=256, kstep_s=130.0, rss=2100.0), _row(n=1024, kstep_s=400.0), _row("cnn", 10000, ok=False)]
    assert [t.met for t in ms.judge_targets(slow)] == [False, False, False, False]  # 1.3x per sample is not flat
    failed = ms.judge_targets([_row(n=256, rss=900.0, ok=False)])
    assert [t.met for t in failed] == [False, False, None, None]
    assert "failed: exit 1" in failed[0].detail
    text = ms.format_targets(failed)
    assert "MISSED" in text and "not measured" in text
