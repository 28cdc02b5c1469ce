"""Provides `Comparison`: two model files and a reference input -> the `Analysis` (kstep.analysis).

The orchestrator of the comparison's parts. Steps (each yields progress, so the TUI can show rows as they fill in):
read the inputs (kstep.compare.inputs); run OLD and NEW in float32 keeping every layer's output, and re-run both in
float64 for each layer's numeric noise floor (kstep.compare.trace); align the layers (kstep.compare.align); judge
every row (kstep.compare.judge) under its tolerance (kstep.compare.tolerance): shapes, weights in effective form,
propagated activations (each model fed its own upstream outputs) and isolated activations (the NEW layer fed OLD's
inputs, so a layer is blamed only for what it adds). The first divergence is searched as rows arrive
(kstep.compare.divergence) and diagnosed through probes of the runs (kstep.compare.probe, diagnose, input_causes).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, Iterator, Sequence

import numpy as np

from kstep import __version__
from kstep.analysis import Analysis, FirstDivergence, Hypothesis, Reason, Row, SampleSet, SampleVerdict, Tolerance
from kstep.compare import diagnose, input_causes
from kstep.compare.align import Item, align
from kstep.compare.divergence import DivergenceSearch, find_first, name_the_others
from kstep.compare.focus import FocusRuns, activation_arrays
from kstep.compare.heatmap import Heatmaps, first_heatmaps
from kstep.compare.inputs import InputDiff, InputSet, differing
from kstep.compare.judge import Computed, RowInput, RowJudge, judge_row, layer_level, needs_weights
from kstep.compare.layout import to_old
from kstep.compare.metrics import max_abs
from kstep.compare.pending import file_info, pending_row, static_items
from kstep.compare.plan import kept_bytes, memory_line, plan, streamed_bytes
from kstep.compare.probe import InputProbe, LayerProbe, isolated_outputs
from kstep.compare.results import computed, merge_diffs, sha256, subset, weight_bytes, with_weights
from kstep.compare.tolerance import row_tolerance, shown_tolerance
from kstep.compare.trace import Runner, Trace, start_trace
from kstep.compare.verdicts import VerdictCollector, output_keys
from kstep.engine.executor import Executor, LayerResult
from kstep.errors import OutOfMemory
from kstep.io.load import open_model
from kstep.ir import ModelFile
from kstep.options import CompareOptions

NOISE_SAMPLES = 1
"""The float64 noise run covers the first this-many samples (a fixed cost: ~2 float32 runs of both models each)."""
KEEP_ALL = 4
"""At most this many samples: one chunk, every output kept; more: the first chunk is the noise subsample."""


class Comparison:
    """Open both models and the reference samples; `run()` computes, `analysis()` returns the current state.

    The first chunk (every sample when there are at most KEEP_ALL, else the first NOISE_SAMPLES) runs with every
    output kept, and the float64 twins of its first NOISE_SAMPLES for the noise floor (each row's tolerance); the
    rest run in chunks sized by the memory plan (kstep.compare.plan), each output dropped once judged. Rows fold
    per-sample statistics over every chunk (kstep.compare.judge.RowJudge). The first divergence is the earliest row
    where any sample diverges; its diagnosis runs on the first sample diverging there."""

    def __init__(self, old_path: str, new_path: str, ref_path: str, ref_new_path: str | None = None,
                 options: CompareOptions | None = None, command: list[str] | None = None,
                 chunk_size: int | None = None, patch_new: Callable[[ModelFile], None] | None = None):
        """chunk_size: samples per chunk after the first, instead of the plan's; patch_new: edits NEW in memory."""
        self.options = options or CompareOptions()
        self.chunk_size = chunk_size
        self.command = list(command or [])
        self.old = open_model(old_path, self.options.weights_old, dict(self.options.assume_old))
        try:
            self.new = open_model(new_path, self.options.weights_new, dict(self.options.assume_new))
            if patch_new is not None:
                patch_new(self.new)
        except BaseException:
            self.old.close()
            if hasattr(self, "new"):
                self.new.close()
            raise
        try:
            self.inputs = InputSet.from_options(self.old, self.new, ref_path, ref_new_path, self.options)
        except BaseException:
            self.close()
            raise
        self.notes: list[str] = list(self.inputs.notes)
        self.old_info = file_info(self.old, old_path)
        self.new_info = file_info(self.new, new_path)
        self.rows: list[Row] = []
        self.judges: list[RowJudge] = []
        self.diffs: list[InputDiff] = []
        self.search = self._search()
        self.verdicts: list[SampleVerdict] = []
        self.heatmaps: Heatmaps | None = None  # the first divergence's maps (kstep.compare.heatmap), once finished
        self.collector = VerdictCollector(self.inputs.count, self.inputs.first)
        self.done = False
        self.old_trace: Trace | None = None  # the first chunk's runs, while kept
        self.new_trace: Trace | None = None
        self.first_samples = 0  # samples in the first chunk
        self.noise: dict[tuple[str, str], float] = {}
        self.pairs: list[tuple[Item | None, Item | None]] = []
        self.row_sample: dict[int, int] = {}  # row -> the first (absolute) sample whose comparison fails there
        self.focus = FocusRuns(self.old, self.new, self.inputs, self.options.max_memory)
        self.out_keys = output_keys(self.old.model)  # where the per-sample verdicts are read
        self.diagnoses: dict[tuple[int, int, str], list[Hypothesis]] = {}
        self.sample_set = SampleSet(self.inputs.count, self.inputs.first, max_memory=self.options.max_memory)
        self.per_sample = 0  # bytes of one sample's layer outputs alive at once (both models), once measured
        self.lock = threading.RLock()  # run() in a worker thread vs retolerance() from the app

    def close(self) -> None:
        self.old.close()
        self.new.close()
        if hasattr(self, "inputs"):
            self.inputs.close()

    # -- running -----------------------------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[str, int, int]]:
        """`compute()`, with running out of memory turned into one line (OutOfMemory, exit 2) that says how much
        the failing chunk needed."""
        try:
            yield from self.compute()
        except MemoryError:
            raise OutOfMemory(memory_line(self.old.model, self.new.model, self.per_sample,
                                          self.options.max_memory)) from None

    def compute(self) -> Iterator[tuple[str, int, int]]:
        """Compute everything; yields (phase, done, total): ('compare', rows, rows) through the first chunk, then
        ('samples', samples, samples) after each further chunk.

        The first chunk's four runs (OLD and NEW in float32, and in float64 for the noise floor) advance in lockstep
        with the rows, so the first rows (and a first divergence) are known long before a big model has finished."""
        with self.lock:  # a restart starts from nothing
            self.rows, self.judges, self.done, self.noise = [], [], False, {}
            self.row_sample, self.verdicts, self.heatmaps = {}, [], None
            self.focus.clear()
            self.collector = VerdictCollector(self.inputs.count, self.inputs.first)
        align_notes: list[str] = []
        self.pairs = align(static_items(self.old.model), static_items(self.new.model), dict(self.options.forced),
                           align_notes)
        self._note(align_notes)
        for info, mf in ((self.old_info, self.old), (self.new_info, self.new)):
            info.sha256 = sha256(mf.path)
        count = self.inputs.count
        first = self.first_samples = count if count <= KEEP_ALL else min(count, NOISE_SAMPLES)
        yield from self._first_chunk(first)
        assert self.old_trace is not None and self.new_trace is not None
        old_exec, new_exec = self.old_trace.executor, self.new_trace.executor
        self.focus.executors = (old_exec, new_exec)
        streamed = streamed_bytes(self.old_trace) + streamed_bytes(self.new_trace)
        self.per_sample = streamed // max(first, 1)
        the_plan = plan(count, first, self.options.max_memory, weight_bytes(old_exec) + weight_bytes(new_exec),
                        kept_bytes(self.old_trace) + kept_bytes(self.new_trace), streamed)
        if self.chunk_size is not None:
            the_plan = replace(the_plan, chunk=self.chunk_size)
        if not the_plan.keep_first:  # dropped, with the one-sample views of them the diagnosis holds
            self.old_trace = self.new_trace = None
            self.focus.clear()
        chunks = 1
        for start in range(first, count, the_plan.chunk):
            stop = min(count, start + the_plan.chunk)
            self._stream_chunk(start, stop, old_exec, new_exec)
            chunks += 1
            yield ("samples", stop, count)
        self.sample_set = SampleSet(count, self.inputs.first, min(first, NOISE_SAMPLES), the_plan.chunk
                                    if count > first else first, chunks, self.options.max_memory, the_plan.notes)
        with self.lock:
            self._finish()
        self.done = True

    def _first_chunk(self, first: int) -> Iterator[tuple[str, int, int]]:
        """Samples [0, first): every output kept, the float64 twins on the first NOISE_SAMPLES of them for the noise
        floor; rows fed to a provisional first-divergence search as they are judged."""
        chunk = self.inputs.chunk(0, first)
        self._note(chunk.notes)
        self.diffs = differing(chunk, self.options.rtol)
        with self.lock:
            self.search = self._search()
        samples = np.arange(first) + self.inputs.first
        self.old_trace = ot = start_trace(self.old, dict(chunk.old))
        self.new_trace = nt = start_trace(self.new, dict(chunk.new))
        runs = {"old": Runner(ot), "new": Runner(nt)}
        if self.options.noise:
            # float64 twins, kept only for the noise statistic: they cast the float32 runs' weights and drop
            # every array once it is used (a ResNet50 report otherwise holds ~1 GB more)
            for side, feeds, tr in (("old", chunk.old, ot), ("new", chunk.new, nt)):  # the noise subsample only
                head = {k: v[:NOISE_SAMPLES] for k, v in feeds.items()}
                runs[side + "64"] = Runner(start_trace(tr.mf, head, "float64", tr.executor, transient=True))
        total = len(self.pairs)
        for i, (o, n) in enumerate(self.pairs):
            for side, item in (("old", o), ("new", n)):
                if item is None:
                    continue
                r32 = runs[side].until(item.key)
                r64 = runs[side + "64"].until(item.key) if self.options.noise else None
                if r32 is not None and r64 is not None and r32.outputs and r64.outputs:
                    self.noise[(side, item.key)] = max(max_abs(a, b[:a.shape[0]] if a.ndim and b.ndim else b)
                                                       for a, b in zip(r64.outputs, r32.outputs))
                if r64 is not None:
                    r64.outputs, r64.input_arrays = [], []
            with self.lock:
                judge = self._kept_judge(i, ot, nt, samples)
                self.judges.append(judge)
                row = judge.row()
                self.rows.append(row)
                self.search.feed(row)
            yield ("compare", i + 1, total)
        for runner in runs.values():
            runner.finish()

    def _kept_judge(self, i: int, ot: Trace, nt: Trace, samples: np.ndarray) -> RowJudge:
        """Row i's judge, started and fed from kept runs of the first chunk (samples: their absolute indices)."""
        o, n = self.pairs[i]
        judge = RowJudge(i, o, n, self._tolerance(o, n), weights=not self.options.outputs_only)
        ro, rn = (ot.by_key.get(o.key) if o else None), (nt.by_key.get(n.key) if n else None)
        co, cn = (computed(ot, ro) if ro is not None else None), (computed(nt, rn) if rn is not None else None)
        if needs_weights(co, cn):
            assert co is not None and cn is not None and ro is not None and rn is not None
            co, cn = with_weights(co, ot, ro), with_weights(cn, nt, rn)
        judge.start(co, cn)
        self._add(judge, co, cn, ot, nt, ro, rn, samples)
        return judge

    def _stream_chunk(self, start: int, stop: int, old_exec: Executor, new_exec: Executor) -> None:
        """Samples [start, stop): run in lockstep, each result judged then dropped (nothing kept)."""
        chunk = self.inputs.chunk(start, stop)
        self._note(chunk.notes)
        self.diffs = merge_diffs(self.diffs, differing(chunk, self.options.rtol))
        samples = np.arange(start, stop) + self.inputs.first
        ot = start_trace(self.old, dict(chunk.old), weights_from=old_exec, transient=True, keep=False)
        nt = start_trace(self.new, dict(chunk.new), weights_from=new_exec, transient=True, keep=False)
        old_run, new_run = Runner(ot), Runner(nt)
        for judge, (o, n) in zip(self.judges, self.pairs):
            ro = old_run.until(o.key) if o else None
            rn = new_run.until(n.key) if n else None
            if not judge.comparable or ro is None or rn is None:
                continue
            with self.lock:
                self._add(judge, computed(ot, ro), computed(nt, rn), ot, nt, ro, rn, samples)
        old_run.finish()
        new_run.finish()

    def _add(self, judge: RowJudge, co: Computed | None, cn: Computed | None, ot: Trace, nt: Trace,
             ro: LayerResult | None, rn: LayerResult | None, samples: np.ndarray) -> None:
        """Fold one chunk of a row into its judge, the per-sample first failing rows and the final verdicts."""
        if not judge.comparable or co is None or cn is None or ro is None or rn is None:
            return

        def isolate(mask: np.ndarray) -> list[np.ndarray] | None:
            return isolated_outputs(ot, nt, subset(ro, mask), subset(rn, mask))

        fails = judge.add(co, cn, samples, isolate if judge.level else None)
        if fails is None:
            return
        if fails.any():
            self.row_sample.setdefault(judge.index, int(samples[fails][0]))
            self.collector.fails(judge.index, samples, fails)
        if ro.key in self.out_keys and co.outputs and cn.outputs:
            a = co.outputs[0]
            b = to_old(cn.outputs[0], co.out_tags[0], cn.out_tags[0])
            if a.shape == b.shape:
                errs = judge.last[0] if judge.last else None
                self.collector.outputs(judge.index, samples, a, b, fails, None if errs is None else errs.max_abs)

    def _finish(self) -> None:
        """Every chunk is in: the rows over the whole set, the first divergence (diagnosed on its sample), the
        per-sample verdicts."""
        self.rows = [j.row() for j in self.judges]
        self.search = self._search()
        find_first(self.rows, self.search)
        first = self.search.first
        if first is not None:
            name_the_others(first, self.rows)
            row = self.rows[first.row]
            if first.reason not in (Reason.UNSUPPORTED, Reason.ARCHITECTURE):
                first.sample = self._sample_of(first.row)
                first.samples_diverging = row.propagated.samples_beyond if row.propagated is not None else 0
        self.verdicts = self.collector.result()
        self.heatmaps = first_heatmaps(first, self.rows, self.pairs, (self.old_trace, self.new_trace),
                                       self.inputs.first, self.focus)

    def _tolerance(self, o: Item | None, n: Item | None) -> Tolerance:
        names = [x for item in (o, n) if item is not None for x in (item.key, item.name)]
        noise = max([self.noise.get((side, item.key), 0.0) for side, item in (("old", o), ("new", n)) if item] + [0.0])
        return row_tolerance(self.options, names, noise)

    def _note(self, notes: Sequence[str]) -> None:
        self.notes += [n for n in notes if n not in self.notes]  # a restart or a chunk says it again: once

    # -- diagnosis ---------------------------------------------------------------------------------------------
    def _search(self) -> DivergenceSearch:
        """A new first-divergence search under the current options (inputs compared under their rtol)."""
        return DivergenceSearch(self.diffs, self._layer_causes, self._input_causes, self.options.outputs_only)

    def _sample_of(self, row: int) -> int:
        """The sample a row's diagnosis runs on: the first whose comparison fails there (else the first)."""
        return self.row_sample.get(row, self.inputs.first)

    def _layer_causes(self, row: Row) -> list[Hypothesis]:
        if row.old is None or row.new is None or row.propagated is None:
            return []
        sample = self._sample_of(row.index)
        key = (row.index, sample, "layer")
        if key not in self.diagnoses:
            ot, nt = self.focus.get(sample, self.old_trace, self.new_trace, self.first_samples)
            ro, rn = ot.by_key.get(row.old.key), nt.by_key.get(row.new.key)
            if ro is None or rn is None:
                return []
            one = self._judge_one(row.index, ot, nt, ro, rn)
            if one.propagated is None:
                return []
            probe = LayerProbe(ot, nt, ro, rn, one.propagated.tolerance)
            self.diagnoses[key] = diagnose.layer_hypotheses(probe, one)
        return self.diagnoses[key]

    def _judge_one(self, index: int, ot: Trace, nt: Trace, ro: LayerResult, rn: LayerResult) -> Row:
        """Row `index` judged on one sample's runs (what the diagnosis compares its re-runs with)."""
        o, n = self.pairs[index]
        co, cn = computed(ot, ro), computed(nt, rn)
        if needs_weights(co, cn):
            co, cn = with_weights(co, ot, ro), with_weights(cn, nt, rn)
        iso = isolated_outputs(ot, nt, ro, rn) if layer_level(co, cn) else None
        return judge_row(RowInput(index, o, n, co, cn, self.judges[index].tolerance, iso))

    def _input_causes(self, row: Row, diffs: Sequence[InputDiff]) -> list[Hypothesis]:
        if len(diffs) != 1 or row.old is None or row.new is None or row.propagated is None:
            return []
        sample = self._sample_of(row.index)
        key = (row.index, sample, "input")
        if key not in self.diagnoses:
            ot, nt = self.focus.get(sample, self.old_trace, self.new_trace, self.first_samples)
            rel = sample - self.inputs.first
            chunk = self.inputs.chunk(rel, rel + 1)
            ro, rn = ot.by_key.get(row.old.key), nt.by_key.get(row.new.key)
            one_diffs = differing(chunk, self.options.rtol)
            if ro is None or rn is None or len(one_diffs) != 1:
                return []
            one = self._judge_one(row.index, ot, nt, ro, rn)
            if one.propagated is None:
                return []
            probe = InputProbe(chunk, one_diffs[0], ot, self.new, row.old.key, row.new.key, one.propagated.tolerance)
            self.diagnoses[key] = input_causes.input_hypotheses(probe, one, one_diffs)
        return self.diagnoses[key]

    # -- re-judging --------------------------------------------------------------------------------------------
    def retolerance(self, atol: float | None, rtol: float) -> Analysis:
        """Everything again under a new tolerance: from the kept runs when the first chunk is the whole set (the
        engine does not re-run), else by running the comparison again (once it has finished)."""
        with self.lock:
            self.options = self.options.with_tolerance(atol, rtol)
            if self.first_samples == self.inputs.count and self.old_trace is not None and self.new_trace is not None:
                self._rejudge_kept()
                return self.analysis()
            if not self.done:
                return self.analysis()
        for _ in self.run():
            pass
        return self.analysis()

    def _rejudge_kept(self) -> None:
        """Judge every row again from the kept runs of the whole set (the first chunk)."""
        ot, nt = self.old_trace, self.new_trace
        assert ot is not None and nt is not None
        self.diagnoses = {}
        self.row_sample, self.collector = {}, VerdictCollector(self.inputs.count, self.inputs.first)
        samples = np.arange(self.first_samples) + self.inputs.first
        self.judges = [self._kept_judge(i, ot, nt, samples) for i in range(len(self.judges))]
        if self.done:
            self._finish()
        else:
            # the search is ended even while run() is still judging rows: later rows are not searched (as before
            # this module was split; see find_first)
            self.rows = [j.row() for j in self.judges]
            self.search = self._search()
            find_first(self.rows, self.search)

    # -- reading -----------------------------------------------------------------------------------------------
    def arrays(self, index: int, isolated: bool = False) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Row `index`'s first output for the activations view, over the first chunk's samples: (OLD's, NEW's mapped
        into OLD's layout, channel axis); with `isolated`, NEW's is the output of NEW's layer fed OLD's inputs.
        None when not computed or not kept."""
        if not 0 <= index < len(self.rows) or self.old_trace is None or self.new_trace is None:
            return None
        return activation_arrays(self.old_trace, self.new_trace, *self.pairs[index], isolated)

    @property
    def first(self) -> FirstDivergence | None:
        """The first divergence found so far."""
        return self.search.first

    def analysis(self) -> Analysis:
        """The current state: judged rows, then the rest as PENDING (while `run()` is still going)."""
        with self.lock:
            rows = list(self.rows) if self.done else [j.row() for j in self.judges]
            rows += [pending_row(i, *self.pairs[i]) for i in range(len(rows), len(self.pairs))]
            return Analysis(old=self.old_info, new=self.new_info, kstep_version=__version__, command=self.command,
                            tolerance=shown_tolerance(self.options.atol, self.options.rtol), rows=rows,
                            first_divergence=self.search.first, verdicts=self.verdicts, input_notes=list(self.notes),
                            complete=self.done, samples=self.sample_set, heatmaps=self.heatmaps)

