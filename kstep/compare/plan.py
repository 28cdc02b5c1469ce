"""Provides the memory plan of a many-sample comparison: how many samples a chunk holds under `--max-memory`, and
whether the first chunk's runs can stay in memory (for the diagnosis and the debugger's Activations tab).

Measured, not guessed: the first chunk (the noise subsample) runs with every layer's output kept; its traces give
each model's bytes per sample kept (every output) and streamed (the largest set of outputs alive at once when each
is dropped after its last consumer, from the execution order). A chunk then holds
(budget - weights - FIXED_BYTES) / (streamed bytes per sample x SAFETY) samples, at least one; when even that does
not fit, one sample at a time, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.compare.trace import Trace
from kstep.ir import ModelSpec
from kstep.shapes import model_weight_bytes

FIXED_BYTES = 256 * 2**20
"""What a run holds besides weights and activations: the interpreter, numpy/h5py, the im2col band of a convolution
(48 MB at most, kstep.engine.conv), the comparison's float64 blocks."""
CHUNK_BYTES = 384 * 2**20
"""Largest working set a chunk aims at even when the budget allows more: bigger batches stop paying (fresh pages
for every layer's output cost more than the larger GEMMs save; measured on ResNet50, 2 cores)."""
SAFETY = 2.0
"""Headroom over the streamed bytes per sample (a layer's output and its input alive together, kernels'
temporaries, the isolated re-run of failing samples)."""


@dataclass(frozen=True)
class Plan:
    """chunk: samples per chunk after the first; keep_first: the first chunk's traces stay in memory; notes: what
    the report should say about it."""

    chunk: int
    keep_first: bool
    notes: tuple[str, ...] = ()


def kept_bytes(trace: Trace) -> int:
    """Bytes of every output a kept trace holds."""
    return sum(x.nbytes for r in trace.results for x in r.outputs)


def streamed_bytes(trace: Trace) -> int:
    """The largest total of outputs alive at once in the trace's run when each output is dropped after its last
    consumer (unread outputs live to the end): the run's working set."""
    results = trace.results
    last = {r.key: len(results) for r in results}  # unread outputs live to the end
    for i, r in enumerate(results):
        for key, _ in r.input_sources:
            if key in last:
                last[key] = i  # steps only grow: the last reader wins
    alive, peak = 0, 0
    ends: dict[int, int] = {}
    for i, r in enumerate(results):
        size = sum(x.nbytes for x in r.outputs)
        alive += size
        peak = max(peak, alive)
        ends[last[r.key]] = ends.get(last[r.key], 0) + size
        alive -= ends.pop(i, 0)
    return peak


def plan(samples: int, first: int, budget: int, weights: int, kept: int, streamed: int) -> Plan:
    """The plan for `samples` in all, of which the first chunk ran `first`, whose traces hold `kept` bytes and
    stream `streamed` bytes (both models); `weights`: both models' weights as the runs hold them."""
    per_sample = max(1, streamed // max(first, 1))
    room = budget - weights - FIXED_BYTES
    notes = []
    keep_first = samples == first or kept + weights + FIXED_BYTES <= budget // 2
    if not keep_first:
        notes.append(f"the first {first} sample(s)' layer outputs ({kept / 2**20:.0f} MiB) are not kept: the "
                     "diagnosis re-runs the sample it needs")
    if room < per_sample * SAFETY:
        notes.append(f"the weights ({weights / 2**20:.0f} MiB) leave no room under --max-memory "
                     f"{budget / 2**20:.0f} MiB: one sample at a time")
        return Plan(1, keep_first, tuple(notes))
    if keep_first and samples > first:
        room -= kept
    fits = int(room // (per_sample * SAFETY))
    return Plan(max(1, min(fits, CHUNK_BYTES // per_sample)), keep_first, tuple(notes))


def memory_line(old: ModelSpec, new: ModelSpec, per_sample: int, budget: int) -> str:
    """What ran out of memory: the weights (from the files' shapes) and, once measured, one sample's layer outputs."""
    weights = model_weight_bytes(old) + model_weight_bytes(new)
    outputs = f"; one sample's layer outputs need about {per_sample / 2**20:.0f} MiB" if per_sample else ""
    return (f"out of memory comparing the models: their weights need {weights / 2**20:.0f} MiB{outputs}; "
            f"--max-memory is {budget / 2**20:.0f} MiB (free memory, or compare on a machine with more)")
