"""Provides `FocusRuns`: both models run on one sample alone, for the diagnosis of that sample (cached per sample)
and for the debugger's Activations tab of a sample whose arrays are not kept (`view`: the last VIEWS_KEPT samples,
within a quarter of --max-memory, run on demand with per-layer progress); `activation_arrays`: one row's outputs
from kept runs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

from kstep.compare.align import Item
from kstep.compare.inputs import InputSet
from kstep.compare.layout import to_old
from kstep.compare.pending import static_items
from kstep.compare.plan import kept_bytes
from kstep.compare.probe import isolated_outputs
from kstep.compare.trace import Trace, slice_trace, start_trace, step_trace
from kstep.engine.executor import Executor
from kstep.ir import ModelFile

VIEWS_KEPT = 3
"""How many one-sample runs the debugger's view cache holds (both models' every layer output for one sample each)."""

LayerProgress = Callable[[int, int], None]
"""progress(layers done, layers in all) over both models' runs, called after each layer call."""


class FocusRuns:
    """Per absolute sample index, OLD's and NEW's runs on that sample alone: sliced from the first chunk's kept runs
    when they hold it, else run now (reusing the weights already read)."""

    def __init__(self, old: ModelFile, new: ModelFile, inputs: InputSet, max_memory: int = 0):
        """max_memory: the comparison's budget (--max-memory); the debugger's views keep at most a quarter of it
        (always the newest view), 0 = only the VIEWS_KEPT count."""
        self.old, self.new, self.inputs = old, new, inputs
        self.views_budget = max_memory // 4
        self.runs: dict[int, tuple[Trace, Trace]] = {}
        self.executors: tuple[Executor, Executor] | None = None  # the runs' executors, whose weights are read
        self.views: OrderedDict[int, tuple[Trace, Trace]] = OrderedDict()  # the debugger's, most recent last
        self._lock = threading.Lock()  # the diagnosis (the comparison's thread) vs the debugger's view worker

    def clear(self) -> None:
        with self._lock:
            self.runs = {}
            self.views = OrderedDict()

    def get(self, sample: int, old: Trace | None, new: Trace | None, kept: int) -> tuple[Trace, Trace]:
        """The runs on `sample`; old/new: the first chunk's kept runs (None when not kept) over `kept` samples."""
        if sample not in self.runs:
            rel = sample - self.inputs.first
            if old is not None and new is not None and rel < kept:
                self.runs[sample] = (old, new) if kept == 1 else (slice_trace(old, rel), slice_trace(new, rel))
            else:
                runs = self.views.get(sample) or self.run(sample, old, new)
                with self._lock:
                    self.runs[sample] = runs
        return self.runs[sample]

    def cached(self, sample: int) -> tuple[Trace, Trace] | None:
        """The one-sample runs of `sample` already in memory (the diagnosis' or the view cache's), else None."""
        with self._lock:
            return self.runs.get(sample) or self.views.get(sample)

    def view(self, sample: int, progress: LayerProgress | None = None) -> tuple[Trace, Trace]:
        """The runs on `sample` for the debugger: cached, else run now (slow: both models, every layer; call it from
        a worker) and kept among the last VIEWS_KEPT samples viewed. An exception raised by `progress` stops the run
        there (nothing is cached): how the debugger abandons a sample the user has moved away from."""
        runs = self.cached(sample)
        if runs is None:
            runs = self.run(sample, None, None, progress)
        with self._lock:
            if sample not in self.runs:
                self.views[sample] = runs
                self.views.move_to_end(sample)
                while len(self.views) > VIEWS_KEPT or (
                        len(self.views) > 1 and self.views_budget
                        and sum(kept_bytes(t) for runs in self.views.values() for t in runs) > self.views_budget):
                    self.views.popitem(last=False)
        return runs

    def run(self, sample: int, old: Trace | None, new: Trace | None,
            progress: LayerProgress | None = None) -> tuple[Trace, Trace]:
        """Both models on `sample` alone, every output kept (weights reused from `old`/`new` or earlier runs)."""
        rel = sample - self.inputs.first
        chunk = self.inputs.chunk(rel, rel + 1)
        traces = [start_trace(self.old, dict(chunk.old), weights_from=self._executor(old, 0)),
                  start_trace(self.new, dict(chunk.new), weights_from=self._executor(new, 1))]
        total = len(static_items(self.old.model)) + len(static_items(self.new.model))
        done = 0
        for trace in traces:
            for _ in step_trace(trace):
                done += 1
                if progress is not None:
                    progress(min(done, total), total)
        return traces[0], traces[1]

    def _executor(self, kept: Trace | None, side: int) -> Executor | None:
        """An executor whose weights are already read: the kept run's, else an earlier focus run's."""
        if kept is not None:
            return kept.executor
        if self.executors is not None:
            return self.executors[side]
        with self._lock:
            earlier = list(self.runs.values()) + list(self.views.values())
        return next((runs[side].executor for runs in earlier), None)


def activation_arrays(old: Trace, new: Trace, o: Item | None, n: Item | None,
                      isolated: bool = False) -> tuple[np.ndarray, np.ndarray, int] | None:
    """An aligned pair's first output from kept runs: (OLD's, NEW's mapped into OLD's layout, channel axis); with
    `isolated`, NEW's is the output of NEW's layer fed OLD's inputs. None when not computed."""
    if o is None or n is None:
        return None
    ro, rn = old.by_key.get(o.key), new.by_key.get(n.key)
    if ro is None or rn is None or not ro.outputs or not rn.outputs:
        return None
    tag = old.out_tag(ro)
    axis = 1 if tag.kind == "image" and tag.fmt == "channels_first" else -1
    if isolated:
        if ro.layer.kind == "Model" or rn.layer.kind == "Model":
            return None
        mapped = isolated_outputs(old, new, ro, rn)
        return None if not mapped else (ro.outputs[0], mapped[0], axis)
    return ro.outputs[0], to_old(rn.outputs[0], tag, new.out_tag(rn)), axis
