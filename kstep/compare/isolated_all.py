"""Provides `isolated_pass`: every layer-level row's isolated statistics (NEW's layer fed OLD's inputs) over every
sample, for the debugger's `i` view once the comparison has finished.

The comparison re-runs a layer isolated only where a row needs it to be judged (its propagated comparison fails,
until the isolated one has failed once), so most rows have no isolated statistics or cover some samples only. This
runs both models again chunk by chunk, as the comparison streams its samples (nothing kept, each output dropped
once its row is done), and re-runs NEW's layer on OLD's inputs for every row and sample (except a layer that is
OLD's computation exactly, kstep.compare.judge.same_computation: its isolated output is OLD's own, error 0). It
judges nothing: the rows' statuses stay the comparison's; only the statistics are filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Protocol, Sequence

import numpy as np

from kstep.analysis import Stats
from kstep.compare.align import Item
from kstep.compare.inputs import InputSet
from kstep.compare.judge import RowJudge
from kstep.compare.metrics import worst_of
from kstep.compare.probe import isolated_outputs
from kstep.compare.sample_errors import StatsAccumulator, sample_errors
from kstep.compare.trace import Runner, start_trace
from kstep.engine.executor import Executor
from kstep.ir import ModelFile


class Source(Protocol):
    """What the pass reads of a finished comparison (kstep.compare.analyze.Comparison has it)."""

    old: ModelFile
    new: ModelFile
    inputs: InputSet
    judges: list[RowJudge]
    pairs: list[tuple[Item | None, Item | None]]


@dataclass
class IsolatedPass:
    """The result so far: row index -> isolated Stats over the samples done."""

    stats: dict[int, Stats]
    samples: int = 0


def isolated_pass(c: Source, chunk: int, executors: Sequence[Executor] | None = None,
                  out: IsolatedPass | None = None) -> Generator[tuple[str, int, int], None, None]:
    """Fill `out` chunk by chunk (`chunk` samples at a time); yields (phase, layers done, layers) as each chunk
    starts and after each row, the phase naming the samples done before this chunk ('isolated, samples 4/16,
    layer'). executors: OLD's and NEW's whose weights are already read (else they are read again)."""
    out = out if out is not None else IsolatedPass({})
    count = c.inputs.count
    rows = [j for j in c.judges if j.level and j.comparable]
    accs: dict[int, list[StatsAccumulator]] = {}
    for start in range(0, count, max(1, chunk)):
        stop = min(count, start + max(1, chunk))
        feeds = c.inputs.chunk(start, stop)
        samples = np.arange(start, stop) + c.inputs.first
        ot = start_trace(c.old, dict(feeds.old), weights_from=executors[0] if executors else None, transient=True,
                         keep=False)
        nt = start_trace(c.new, dict(feeds.new), weights_from=executors[1] if executors else None, transient=True,
                         keep=False)
        old_run, new_run = Runner(ot), Runner(nt)
        yield (f"isolated, samples {start}/{count}, layer", 0, len(rows))  # the chunk starts: shown at once
        for k, judge in enumerate(rows):
            o, n = c.pairs[judge.index]
            ro = old_run.until(o.key) if o else None
            rn = new_run.until(n.key) if n else None
            if ro is None or rn is None or not ro.outputs:
                continue
            # NEW's layer is OLD's computation exactly (the judge's rule): fed OLD's inputs it gives OLD's output
            got = list(ro.outputs) if judge.same_computation else isolated_outputs(ot, nt, ro, rn)
            if got is not None:
                tol = judge.tolerance
                for i, (a, b) in enumerate(zip(ro.outputs, got)):
                    if a.shape != b.shape:
                        continue
                    acc = accs.setdefault(judge.index, [])
                    if len(acc) <= i:
                        acc.append(StatsAccumulator(tuple(a.shape[1:])))
                    acc[i].add(sample_errors(a, b, tol.rtol), samples, tol)
                found = worst_of(s.stats(tol) for s in accs.get(judge.index, []))
                if found is not None:
                    out.stats[judge.index] = found
            yield (f"isolated, samples {start}/{count}, layer", k + 1, len(rows))
        old_run.finish()
        new_run.finish()
        out.samples = stop
