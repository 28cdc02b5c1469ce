"""Provides `FocusRuns`: both models run on one sample alone, for the diagnosis of that sample (cached per sample)."""

from __future__ import annotations

from kstep.compare.inputs import InputSet
from kstep.compare.trace import Trace, collect, slice_trace
from kstep.engine.executor import Executor
from kstep.ir import ModelFile


class FocusRuns:
    """Per absolute sample index, OLD's and NEW's runs on that sample alone: sliced from the first chunk's kept runs
    when they hold it, else run now (reusing the weights already read)."""

    def __init__(self, old: ModelFile, new: ModelFile, inputs: InputSet):
        self.old, self.new, self.inputs = old, new, inputs
        self.runs: dict[int, tuple[Trace, Trace]] = {}
        self.executors: tuple[Executor, Executor] | None = None  # the runs' executors, whose weights are read

    def clear(self) -> None:
        self.runs = {}

    def get(self, sample: int, old: Trace | None, new: Trace | None, kept: int) -> tuple[Trace, Trace]:
        """The runs on `sample`; old/new: the first chunk's kept runs (None when not kept) over `kept` samples."""
        if sample not in self.runs:
            rel = sample - self.inputs.first
            if old is not None and new is not None and rel < kept:
                self.runs[sample] = (old, new) if kept == 1 else (slice_trace(old, rel), slice_trace(new, rel))
            else:
                chunk = self.inputs.chunk(rel, rel + 1)
                ot = collect(self.old, dict(chunk.old), weights_from=self._executor(old, 0))
                nt = collect(self.new, dict(chunk.new), weights_from=self._executor(new, 1))
                self.runs[sample] = (ot, nt)
        return self.runs[sample]

    def _executor(self, kept: Trace | None, side: int) -> Executor | None:
        """An executor whose weights are already read: the kept run's, else an earlier focus run's."""
        if kept is not None:
            return kept.executor
        if self.executors is not None:
            return self.executors[side]
        return next((runs[side].executor for runs in self.runs.values()), None)
