"""Many reference samples: the chunked comparison against the result with all samples after the noise subsample in
one chunk. Real pairs (the demo pair, made by Keras 1.2.2 and tf.keras; pairs of tests/fixtures/pairs made by Keras 3
and tf.keras) with seeded sample sets written here: N not a multiple of the chunk, a divergence in the last sample
only, NaN in one sample only, a multi-input model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from kstep.analysis import Analysis, Status
from kstep.compare.analyze import KEEP_ALL, NOISE_SAMPLES, Comparison

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo_models"
PAIRS = ROOT / "tests" / "fixtures" / "pairs"
RNG = np.random.default_rng(13)


def run(old: Path, new: Path, ref: Path, ref_new: Path | None = None, chunk: int | None = None) -> Analysis:
    comparison = Comparison(str(old), str(new), str(ref), None if ref_new is None else str(ref_new),
                            chunk_size=chunk)
    try:
        with np.errstate(all="ignore"):
            for _ in comparison.run():
                pass
        return comparison.analysis()
    finally:
        comparison.close()


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return (a == b) or (math.isnan(a) and math.isnan(b))
    return abs(a - b) <= 1e-6 + 1e-5 * abs(b)


def same_result(a: Analysis, b: Analysis) -> None:
    """Two analyses of the same set agree row by row, on the first divergence and on every sample's verdict."""
    assert len(a.rows) == len(b.rows)
    for ra, rb in zip(a.rows, b.rows):
        assert ra.status == rb.status, ra.name
        for sa, sb in ((ra.propagated, rb.propagated), (ra.isolated, rb.isolated)):
            assert (sa is None) == (sb is None), ra.name
            if sa is None or sb is None:
                continue
            assert sa.passed == sb.passed, ra.name
            if sa is ra.isolated and not sa.passed:
                continue  # re-run only until it fails once: how many samples that covers depends on the chunks
            assert sa.samples == sb.samples and sa.samples_beyond == sb.samples_beyond, ra.name
            if not sa.passed:  # float32 noise (a GEMM of another batch size sums in another order) aside
                assert close(sa.max_abs, sb.max_abs) and close(sa.mean_abs, sb.mean_abs), ra.name
                assert sa.worst_index == sb.worst_index, ra.name
            assert (sa.nan_old, sa.nan_new, sa.inf_old, sa.inf_new) == (sb.nan_old, sb.nan_new, sb.inf_old, sb.inf_new)
    fa, fb = a.first_divergence, b.first_divergence
    assert (fa is None) == (fb is None)
    if fa is not None and fb is not None:
        assert (fa.row, fa.cause, fa.sample, fa.samples_diverging) == (fb.row, fb.cause, fb.sample,
                                                                       fb.samples_diverging)
    assert [(v.sample, v.outputs_agree, v.top1_old, v.top1_new, v.top5_old, v.top5_new, v.first_row)
            for v in a.verdicts] == [(v.sample, v.outputs_agree, v.top1_old, v.top1_new, v.top5_old, v.top5_new,
                                      v.first_row) for v in b.verdicts]
    assert all(close(x.max_abs, y.max_abs) for x, y in zip(a.verdicts, b.verdicts) if not x.outputs_agree)


def samples_like(path: Path, n: int, scale: float = 1.0) -> np.ndarray:
    one = np.load(path)
    return (RNG.normal(size=(n,) + one.shape[1:]) * scale).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 3, 4])
def test_demo_pair_in_chunks_matches_one_chunk(tmp_path, chunk):
    """10 samples: the first chunk holds NOISE_SAMPLES (1), then chunks of 1, 3 (3, 3, 3) or 4 (4, 4, 1): the same
    rows, first divergence (conv1, theano_kernel_flip, sample 0, all 10) and verdicts as one chunk of the other 9."""
    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 10))
    one = run(DEMO / "old.h5", DEMO / "new.h5", ref, chunk=100)
    many = run(DEMO / "old.h5", DEMO / "new.h5", ref, chunk=chunk)
    same_result(many, one)
    f = many.first_divergence
    assert f is not None and f.old_layer == "conv1" and f.cause == "theano_kernel_flip"
    assert f.sample == 0 and f.samples_diverging == 10
    assert len(many.verdicts) == 10 and many.samples.count == 10
    assert many.samples.noise_samples == NOISE_SAMPLES == 1
    assert many.samples.chunks == 1 + math.ceil(9 / chunk)


def correct_pair_set(tmp_path: Path, n: int) -> tuple[Path, Path, Path, np.ndarray, np.ndarray]:
    """A correct channels_first -> channels_last pair (Keras 3 -> tf.keras) with n samples for each side."""
    d = PAIRS / "channels_first_to_last_correct"
    old = samples_like(d / "ref.npy", n)
    new = np.ascontiguousarray(old.transpose(0, 2, 3, 1))
    return d / "old.h5", d / "new.h5", tmp_path, old, new


def test_divergence_only_in_the_last_sample(tmp_path):
    """NEW's input differs from OLD's on the last sample only (in the last chunk): the first divergence names that
    sample and one diverging sample; every other sample agrees; the same as one chunk."""
    old_h5, new_h5, d, x_old, x_new = correct_pair_set(tmp_path, 10)
    x_new[9] *= 2
    np.save(d / "ref.npy", x_old)
    np.save(d / "ref_new.npy", x_new)
    many = run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=3)
    one = run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=100)
    same_result(many, one)
    f = many.first_divergence
    assert f is not None and f.reason == "input" and f.sample == 9 and f.samples_diverging == 1
    assert [v.sample for v in many.verdicts if not v.outputs_agree] == [9]
    assert [v.first_row for v in many.verdicts if v.first_row is not None] == [0]


def test_agreeing_pair_agrees_on_every_sample(tmp_path):
    """The correct pair on 9 samples in chunks of 2: every row agrees, no isolated re-run was needed, every verdict
    agrees."""
    old_h5, new_h5, d, x_old, x_new = correct_pair_set(tmp_path, 9)
    np.save(d / "ref.npy", x_old)
    np.save(d / "ref_new.npy", x_new)
    a = run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=2)
    assert a.agree and a.first_divergence is None
    assert all(r.status in (Status.AGREE, Status.NOISE) for r in a.rows)
    assert all(r.isolated is None for r in a.rows)
    assert all(r.propagated.samples == 9 for r in a.rows if r.propagated is not None)
    assert len(a.verdicts) == 9 and all(v.outputs_agree for v in a.verdicts)


def test_nan_in_one_sample(tmp_path):
    """Sample 6 holds a NaN on both sides: the same NaN pattern agrees and is counted; NaN on NEW's side only
    diverges on that sample alone. Chunked as one chunk."""
    old_h5, new_h5, d, x_old, x_new = correct_pair_set(tmp_path, 8)
    x_old[6, 0, 1, 1] = np.nan
    x_new[6, 1, 1, 0] = np.nan
    np.save(d / "ref.npy", x_old)
    np.save(d / "ref_new.npy", x_new)
    many = run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=3)
    same_result(many, run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=100))
    assert many.first_divergence is None
    assert any(r.propagated is not None and r.propagated.nan_old > 0 for r in many.rows)
    x_only = x_new.copy()
    x_only[6] = x_new[6]
    x_new_clean = np.ascontiguousarray(x_old.transpose(0, 2, 3, 1))
    x_new_clean[6] = np.nan_to_num(x_new_clean[6])
    x_old[6] = np.nan_to_num(x_old[6])
    x_new_clean[6, 2, 2, 1] = np.nan
    np.save(d / "ref.npy", x_old)
    np.save(d / "ref_new.npy", x_new_clean)
    many = run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=3)
    same_result(many, run(old_h5, new_h5, d / "ref.npy", d / "ref_new.npy", chunk=100))
    f = many.first_divergence
    assert f is not None and f.sample == 6 and f.samples_diverging == 1
    assert [v.sample for v in many.verdicts if not v.outputs_agree] == [6]


def test_multi_input_model_in_chunks(tmp_path):
    """A two-input model with nested models (Keras 3 -> tf.keras, correct): 7 samples per input in an .npz, chunks
    of 2, the same as one chunk, all agreeing."""
    d = PAIRS / "shared_nested_k3_to_tfk_correct"
    with np.load(d / "ref.npz") as z:
        x = {k: (RNG.normal(size=(7,) + z[k].shape[1:])).astype(np.float32) for k in z.files}
    np.savez(tmp_path / "ref.npz", **x)
    many = run(d / "old.h5", d / "new.h5", tmp_path / "ref.npz", chunk=2)
    same_result(many, run(d / "old.h5", d / "new.h5", tmp_path / "ref.npz", chunk=100))
    assert many.agree and len(many.verdicts) == 7 and many.samples.chunks == 1 + 3


def test_a_few_samples_are_one_kept_chunk(tmp_path):
    """3 samples (at most KEEP_ALL): one chunk, everything kept (the single-sample path); the noise used the first."""
    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 3))
    a = run(DEMO / "old.h5", DEMO / "new.h5", ref)
    assert KEEP_ALL >= 3 and a.samples.chunks == 1 and a.samples.noise_samples == 1 and len(a.verdicts) == 3


@pytest.mark.parametrize("n", [3, 7])
def test_the_noise_floor_comes_from_the_first_sample(tmp_path, n):
    """Kept in one chunk (3) or streamed (7), every row's noise floor is measured on the first sample alone: scaling
    the other samples by 1000 (which scales their float32 noise too) leaves every floor as it was."""
    floors, x = [], samples_like(DEMO / "ref.npy", n)
    for scale in (1.0, 1000.0):
        x[1:] *= scale
        np.save(tmp_path / "ref.npy", x)
        a = run(DEMO / "old.h5", DEMO / "new.h5", tmp_path / "ref.npy")
        floors.append([r.propagated.tolerance.noise_floor for r in a.rows if r.propagated is not None])
    assert floors[0] == floors[1] and any(floors[0])


def test_samples_option_selects_a_range(tmp_path, capsys):
    """`--samples 5:8` compares samples 5, 6, 7 of the file: the verdicts carry their absolute indices."""
    import json

    from kstep.cli import main

    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 10))
    code = main(["report", str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(ref), "--samples", "5:8", "--format",
                 "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and [v["sample"] for v in doc["verdicts"]] == [5, 6, 7]
    assert doc["samples"]["count"] == 3 and doc["samples"]["first"] == 5
    assert doc["first_divergence"]["sample"] == 5 and doc["first_divergence"]["samples_diverging"] == 3


def test_out_of_memory_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """A MemoryError while running the models is never a verdict: one line saying what was needed, exit 2."""
    from kstep.cli import main
    from kstep.engine.executor import Executor

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Executor, "run_layer", no_memory)
    code = main(["report", str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "out of memory" in err[0] and "MiB" in err[0]


def test_a_tiny_memory_budget_runs_one_sample_at_a_time(tmp_path):
    """--max-memory below the weights: still runs, one sample per chunk, and says so."""
    from kstep.options import CompareOptions

    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 6))
    comparison = Comparison(str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(ref),
                            options=CompareOptions(max_memory=1))
    try:
        for _ in comparison.run():
            pass
        a = comparison.analysis()
    finally:
        comparison.close()
    assert a.samples.chunk == 1 and a.samples.chunks == 1 + 5
    assert any("one sample at a time" in note for note in a.samples.notes)
    assert len(a.verdicts) == 6


def test_row_shapes_count_every_sample(tmp_path):
    """The rows' shapes have every compared sample on the batch axis, not the first chunk's."""
    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", 7))
    a = run(DEMO / "old.h5", DEMO / "new.h5", ref, chunk=2)
    assert all(r.old.shape[0] == 7 and r.new.shape[0] == 7 for r in a.rows if r.propagated is not None)


def test_more_than_keep_all_samples_keep_the_first_alone_and_diagnose_from_it(tmp_path, monkeypatch):
    """10 samples: the first chunk (kept) is sample 0 alone, the noise subsample; the diagnosis of a divergence on
    sample 0 reads those kept runs (no run of its own)."""
    import kstep.compare.focus as focus

    def no_run(*args, **kwargs):
        raise AssertionError("the diagnosis re-ran a sample whose runs are kept")

    monkeypatch.setattr(focus.FocusRuns, "run", no_run)
    ref = tmp_path / "ref.npy"
    np.save(ref, samples_like(DEMO / "ref.npy", KEEP_ALL + 6))
    comparison = Comparison(str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(ref), chunk_size=4)
    try:
        for _ in comparison.run():
            pass
        a = comparison.analysis()
        assert comparison.first_samples == NOISE_SAMPLES == 1 and comparison.old_trace is not None
        assert comparison.old_trace.feeds and all(len(x) == 1 for x in comparison.old_trace.feeds.values())
    finally:
        comparison.close()
    f = a.first_divergence
    assert f is not None and f.sample == 0 and f.cause == "theano_kernel_flip" and a.samples.chunks == 1 + 3
