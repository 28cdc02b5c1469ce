"""Provides the per-sample part of every report: `summary_line` ("K of N samples change their top-1 prediction;
first divergence conv1 on all N samples"), `counts` and `worst_verdicts` (the samples sorted by their final max |Δ|,
largest first), shared by the Markdown and HTML reports and the debugger. Text only, no numerics."""

from __future__ import annotations

from dataclasses import dataclass

from kstep.analysis import Analysis, SampleVerdict

WORST_SHOWN = 20
"""How many samples the Markdown and HTML reports list (JSON lists all)."""


@dataclass(frozen=True)
class Counts:
    """samples: verdicts in all; differ: final outputs beyond tolerance; top1 / flipped: samples with a top-1 class
    and those whose top-1 differs; top5 / top5_changed: the same for the top-5 set."""

    samples: int
    differ: int
    top1: int
    flipped: int
    top5: int
    top5_changed: int


def counts(a: Analysis) -> Counts:
    v = a.verdicts
    return Counts(len(v), sum(not x.outputs_agree for x in v), sum(x.top1_old is not None for x in v),
                  sum(x.top1_flipped for x in v), sum(x.top5_old is not None for x in v),
                  sum(x.top5_changed for x in v))


def summary_line(a: Analysis) -> str:
    """One line over the sample set: predictions that change, and where the models first part on how many."""
    c = counts(a)
    n = a.samples.count if a.samples.count else c.samples
    if c.top1:
        parts = [f"{c.flipped} of {c.top1} samples change their top-1 prediction"]
        if c.top5:
            parts.append(f"{c.top5_changed} of {c.top5} their top-5 set")
    elif c.samples:
        parts = [f"{c.differ} of {c.samples} samples have differing final outputs"]
    else:
        parts = []
    f = a.first_divergence
    if f is None:
        parts.append(f"the models agree on all {n} samples" if a.agree else f"no divergence on {n} samples before "
                     "an unsupported layer")
    else:
        where = f.old_layer or f.new_layer
        if f.sample is None:
            parts.append(f"first divergence {where}")
        else:
            many = f"all {n}" if f.samples_diverging == n else f"{f.samples_diverging} of {n}"
            parts.append(f"first divergence {where} on {many} samples (diagnosed on sample {f.sample})")
    return "; ".join(parts)


def worst_verdicts(a: Analysis, k: int = WORST_SHOWN) -> list[SampleVerdict]:
    """The k samples with the largest final max |Δ| (those without a number last), ties by sample index."""
    def key(v: SampleVerdict) -> tuple[bool, float, int]:
        return (v.max_abs is None, -(v.max_abs or 0.0) if v.max_abs == v.max_abs else float("-inf"), v.sample)

    return sorted(a.verdicts, key=key)[:k]


def top(v: tuple[int, ...] | None) -> str:
    """A top-5 tuple as text ('-' when there is none)."""
    return "-" if v is None else " ".join(str(i) for i in v)
