"""Provides `Comparison`: two model files and a reference input -> the `Analysis` (kstep.analysis).

The orchestrator of the comparison's parts. Steps (each yields progress, so the TUI can show rows as they fill in):
read the inputs (kstep.compare.inputs); run OLD and NEW in float32 keeping every layer's output, and re-run both in
float64 for each layer's numeric noise floor (kstep.compare.trace); align the layers (kstep.compare.align); judge
every row (kstep.compare.judge) under its tolerance (kstep.compare.tolerance): shapes, weights in effective form,
propagated activations (each model fed its own upstream outputs) and isolated activations (the NEW layer fed OLD's
inputs, so a layer is blamed only for what it adds). The first divergence is searched as rows arrive
(kstep.compare.divergence) and diagnosed through probes of the runs (kstep.compare.probe, diagnose,
input_causes).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np

from kstep import __version__
from kstep.analysis import Analysis, FirstDivergence, Hypothesis, Row, SampleVerdict
from kstep.compare import diagnose, input_causes
from kstep.compare.align import Item, align
from kstep.compare.divergence import DivergenceSearch, find_first, name_the_others
from kstep.compare.inputs import InputDiff, differing, read_inputs
from kstep.compare.judge import Computed, RowInput, judge_row, layer_level, needs_weights
from kstep.compare.layout import to_old
from kstep.compare.metrics import compare_arrays, max_abs
from kstep.compare.pending import file_info, pending_row, static_items
from kstep.compare.probe import InputProbe, LayerProbe, isolated_outputs
from kstep.compare.tolerance import row_tolerance, shown_tolerance
from kstep.compare.trace import Runner, Trace, start_trace
from kstep.engine.executor import LayerResult
from kstep.io.load import open_model
from kstep.options import CompareOptions


def sha256(path: str) -> str:
    """The hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Comparison:
    """Open both models and the reference input(s); `run()` computes, `analysis()` returns the current state."""

    def __init__(self, old_path: str, new_path: str, ref_path: str, ref_new_path: str | None = None,
                 options: CompareOptions | None = None, command: list[str] | None = None):
        self.options = options or CompareOptions()
        self.command = list(command or [])
        self.old = open_model(old_path, self.options.weights_old, dict(self.options.assume_old))
        try:
            self.new = open_model(new_path, self.options.weights_new, dict(self.options.assume_new))
        except BaseException:
            self.old.close()
            raise
        try:
            self.inputs = read_inputs(self.old, self.new, ref_path, ref_new_path, self.options.pre_old,
                                      self.options.pre_new)
        except BaseException:
            self.close()
            raise
        self.notes: list[str] = list(self.inputs.notes)
        self.old_info = file_info(self.old, old_path)
        self.new_info = file_info(self.new, new_path)
        self.rows: list[Row] = []
        self.search = self._search()
        self.verdicts: list[SampleVerdict] = []
        self.done = False
        self.old_trace: Trace | None = None
        self.new_trace: Trace | None = None
        self.noise: dict[tuple[str, str], float] = {}
        self.pairs: list[tuple[Item | None, Item | None]] = []
        self.iso_cache: dict[int, list[np.ndarray] | None] = {}
        self.lock = threading.RLock()  # run() in a worker thread vs retolerance() from the app

    def close(self) -> None:
        self.old.close()
        self.new.close()

    # -- running -----------------------------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[str, int, int]]:
        """Compute everything in layer order; yields (phase, done, total) after each row.

        The four runs (OLD and NEW in float32, and in float64 for the noise floor) advance in lockstep with the
        rows, so the first rows (and the first divergence) are known long before a big model has finished.
        """
        with self.lock:  # a restart starts from nothing
            self.rows, self.search, self.done = [], self._search(), False
            self.iso_cache, self.noise, self.verdicts = {}, {}, []
        align_notes: list[str] = []
        self.pairs = align(static_items(self.old.model), static_items(self.new.model), dict(self.options.forced),
                           align_notes)
        self.notes += [n for n in align_notes if n not in self.notes]  # a restart aligns again: noted once
        for info, mf in ((self.old_info, self.old), (self.new_info, self.new)):
            info.sha256 = sha256(mf.path)
        self.old_trace = start_trace(self.old, dict(self.inputs.old))
        self.new_trace = start_trace(self.new, dict(self.inputs.new))
        runs = {"old": Runner(self.old_trace), "new": Runner(self.new_trace)}
        if self.options.noise:
            # float64 twins, kept only for the noise statistic: they cast the float32 runs' weights and drop
            # every array once it is used (a ResNet50 report otherwise holds ~1 GB more)
            runs["old64"] = Runner(start_trace(self.old, dict(self.inputs.old), "float64", self.old_trace.executor,
                                               transient=True))
            runs["new64"] = Runner(start_trace(self.new, dict(self.inputs.new), "float64", self.new_trace.executor,
                                               transient=True))
        total = len(self.pairs)
        for i, (o, n) in enumerate(self.pairs):
            for side, item in (("old", o), ("new", n)):
                if item is None:
                    continue
                r32 = runs[side].until(item.key)
                r64 = runs[side + "64"].until(item.key) if self.options.noise else None
                if r32 is not None and r64 is not None and r32.outputs and r64.outputs:
                    self.noise[(side, item.key)] = max(max_abs(a, b) for a, b in zip(r64.outputs, r32.outputs))
                if r64 is not None:
                    r64.outputs, r64.input_arrays = [], []
            with self.lock:
                row = self._judge(i, o, n)
                self.rows.append(row)
                self.search.feed(row)
            yield ("compare", i + 1, total)
        for runner in runs.values():
            runner.finish()
        with self.lock:
            self.search.end()
            name_the_others(self.search.first, self.rows)
        self.verdicts = self.final_verdicts()
        self.done = True

    def _judge(self, index: int, o: Item | None, n: Item | None) -> Row:
        """Row `index` of the aligned pairs, judged from the runs (the isolated outputs are computed once)."""
        ot, nt = self.old_trace, self.new_trace
        assert ot is not None and nt is not None
        ro = ot.by_key.get(o.key) if o else None
        rn = nt.by_key.get(n.key) if n else None
        co = _computed(ot, ro) if ro is not None else None
        cn = _computed(nt, rn) if rn is not None else None
        if needs_weights(co, cn):
            assert co is not None and cn is not None and ro is not None and rn is not None
            co = _with_weights(co, ot, ro)
            cn = _with_weights(cn, nt, rn)
        isolated = None
        if layer_level(co, cn):
            assert ro is not None and rn is not None
            if index not in self.iso_cache:
                self.iso_cache[index] = isolated_outputs(ot, nt, ro, rn)
            isolated = self.iso_cache[index]
        names = [x for item in (o, n) if item is not None for x in (item.key, item.name)]
        noise = max(self.noise.get(("old", o.key), 0.0) if o else 0.0,
                    self.noise.get(("new", n.key), 0.0) if n else 0.0)
        return judge_row(RowInput(index, o, n, co, cn, row_tolerance(self.options, names, noise), isolated))

    # -- diagnosis ---------------------------------------------------------------------------------------------
    def _search(self) -> DivergenceSearch:
        """A new first-divergence search under the current options (inputs compared under their rtol)."""
        return DivergenceSearch(differing(self.inputs, self.options.rtol), self._layer_causes, self._input_causes)

    def _results(self, row: Row) -> tuple[LayerResult, LayerResult] | None:
        if row.old is None or row.new is None or self.old_trace is None or self.new_trace is None:
            return None
        return self.old_trace.by_key[row.old.key], self.new_trace.by_key[row.new.key]

    def _layer_causes(self, row: Row) -> list[Hypothesis]:
        results = self._results(row)
        if results is None or row.propagated is None:
            return []
        assert self.old_trace is not None and self.new_trace is not None
        probe = LayerProbe(self.old_trace, self.new_trace, *results, row.propagated.tolerance)
        return diagnose.layer_hypotheses(probe, row)

    def _input_causes(self, row: Row, diffs: Sequence[InputDiff]) -> list[Hypothesis]:
        if len(diffs) != 1 or row.old is None or row.new is None or row.propagated is None:
            return []
        assert self.old_trace is not None
        probe = InputProbe(self.inputs, diffs[0], self.old_trace, self.new, row.old.key, row.new.key,
                           row.propagated.tolerance)
        return input_causes.input_hypotheses(probe, row, diffs)

    # -- verdicts ----------------------------------------------------------------------------------------------
    def final_verdicts(self) -> list[SampleVerdict]:
        """Per batch sample of OLD's first model output (with its row): do the outputs agree, and the top-1 classes
        (for a 2-D output with at least one unit)."""
        ot, nt = self.old_trace, self.new_trace
        assert ot is not None and nt is not None
        out_keys = set()
        for r in self.old.model.outputs:
            spec = self.old.model.layer(r.layer)
            out_keys.add(r.layer if len(spec.calls) == 1 else f"{r.layer}@{r.call}")
        verdicts = []
        for row in self.rows:
            if not (row.old and row.new and row.old.key in out_keys and row.propagated is not None):
                continue
            a = ot.by_key[row.old.key].outputs[0]
            b = nt.by_key[row.new.key].outputs[0]
            b = to_old(b, ot.out_tag(ot.by_key[row.old.key]), nt.out_tag(nt.by_key[row.new.key]))
            if a.shape != b.shape:
                continue
            tol = row.propagated.tolerance
            for s in range(a.shape[0]):
                ok = compare_arrays(a[s], b[s], tol).passed
                top1 = a.ndim == 2 and a.shape[1] > 0  # a 0-unit output has no top-1 class
                t_old = int(np.argmax(a[s])) if top1 else None
                t_new = int(np.argmax(b[s])) if top1 else None
                verdicts.append(SampleVerdict(s, ok, t_old, t_new))
            break
        return verdicts

    def retolerance(self, atol: float | None, rtol: float) -> Analysis:
        """Judge every row again under a new tolerance, from the kept outputs (the engine does not re-run)."""
        with self.lock:
            self.options = self.options.with_tolerance(atol, rtol)
            self.rows = [self._judge(i, o, n) for i, (o, n) in enumerate(self.pairs[:len(self.rows)])]
            # the search is ended even while run() is still judging rows: later rows are not searched (as before
            # this module was split; see find_first)
            self.search = self._search()
            find_first(self.rows, self.search)
            if self.done:
                name_the_others(self.search.first, self.rows)
                self.verdicts = self.final_verdicts()
            return self.analysis()

    # -- reading -----------------------------------------------------------------------------------------------
    def arrays(self, index: int, isolated: bool = False) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Row `index`'s first output for the activations view: (OLD's, NEW's mapped into OLD's layout, channel
        axis); with `isolated`, NEW's is the output of NEW's layer fed OLD's inputs. None when not computed."""
        if not 0 <= index < len(self.rows):
            return None
        o, n = self.pairs[index]
        if o is None or n is None or self.old_trace is None or self.new_trace is None:
            return None
        ro, rn = self.old_trace.by_key.get(o.key), self.new_trace.by_key.get(n.key)
        if ro is None or rn is None or not ro.outputs or not rn.outputs:
            return None
        tag = self.old_trace.out_tag(ro)
        axis = 1 if tag.kind == "image" and tag.fmt == "channels_first" else -1
        if isolated:
            mapped = self.iso_cache.get(index)
            return None if not mapped else (ro.outputs[0], mapped[0], axis)
        return ro.outputs[0], to_old(rn.outputs[0], tag, self.new_trace.out_tag(rn)), axis

    @property
    def first(self) -> FirstDivergence | None:
        """The first divergence found so far."""
        return self.search.first

    def analysis(self) -> Analysis:
        """The current state: judged rows, then the rest as PENDING (while `run()` is still going)."""
        with self.lock:
            rows = list(self.rows)
            rows += [pending_row(i, *self.pairs[i]) for i in range(len(rows), len(self.pairs))]
            return Analysis(old=self.old_info, new=self.new_info, kstep_version=__version__, command=self.command,
                            tolerance=shown_tolerance(self.options.atol, self.options.rtol), rows=rows,
                            first_divergence=self.search.first, verdicts=self.verdicts, input_notes=list(self.notes),
                            complete=self.done)


def _computed(trace: Trace, result: LayerResult) -> Computed:
    """A layer call's result as the judge reads it (without weights)."""
    return Computed(result.key, result.layer, trace.mf.semantics, tuple(result.outputs),
                    tuple(trace.out_tags(result)),
                    trace.in_tags(result)[0] if result.input_arrays else None,
                    result.input_arrays[0].ndim if result.input_arrays else None,
                    unsupported=result.unsupported, skipped=result.skipped)


def _with_weights(computed: Computed, trace: Trace, result: LayerResult) -> Computed:
    """`computed` with the layer's weights as executed."""
    return replace(computed, weights=tuple(trace.executor.weights_of(result.layer)))
