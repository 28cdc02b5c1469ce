"""Provides `FocusRuns`: both models run on one sample alone, for the diagnosis of that sample (cached per sample);
`activation_arrays`: one row's outputs from kept runs, for the debugger's Activations tab."""

from __future__ import annotations

import numpy as np

from kstep.compare.align import Item
from kstep.compare.inputs import InputSet
from kstep.compare.layout import to_old
from kstep.compare.probe import isolated_outputs
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
