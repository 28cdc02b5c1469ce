"""Provides the input diagnosis: `INPUT_CAUSES`, the known ways NEW's reference input was preprocessed otherwise.

When the two models' inputs differ, each cause looks at the pair (OLD's input and NEW's, mapped into OLD's layout,
in float64) and, when it recognises the difference (a scale such as 0..255 vs 0..1, reversed channels, a
per-channel mean), names the `--pre-new` transform that undoes it. Each candidate is verified by re-running the whole
NEW model on the corrected input (kstep.compare.probe.InputProbe): it explains only when the first divergent row
then agrees. Causes are tried in list order; a new one is one function and one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from kstep.analysis import Hypothesis, Row
from kstep.compare.inputs import InputDiff
from kstep.compare.preprocess import Transform
from kstep.compare.probe import InputProbe


@dataclass(frozen=True)
class Candidate:
    """A recognised input difference: its cause code, what was seen, and the transform of NEW's input that undoes
    it (the `--pre-new` value)."""

    code: str
    title: str
    transform: Transform


InputCause = Callable[[np.ndarray, np.ndarray, int], "Candidate | None"]
"""(OLD's input, NEW's in OLD's layout, both float64; OLD's channel axis) -> the candidate fix, or None."""


def input_scale(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """NEW's input is OLD's times a factor (least squares; 'scale:1/255' when the factor is 1/k)."""
    denom = float(np.sum(a * a))
    if denom <= 0:
        return None
    s = float(np.sum(a * b) / denom)
    if s == 0 or not np.allclose(a * s, b, rtol=1e-4, atol=1e-5 * max(1.0, abs(s))):
        return None
    nice = nice_fraction(1.0 / s)
    return Candidate("input_scale", f"NEW's input is OLD's times {s:g} (0..255 vs 0..1?)",
                     Transform("scale", (1.0 / s,)) if nice is None else nice)


def input_channel_order(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """NEW's input has the channel axis reversed (RGB vs BGR)."""
    if a.ndim >= 3 and np.allclose(np.flip(a, axis=axis), b, rtol=1e-4, atol=1e-5):
        return Candidate("input_channel_order", "NEW's input has its channels reversed (RGB vs BGR)",
                         Transform("bgr", ()))
    return None


def input_mean(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """NEW's input is OLD's plus a per-channel constant (a mean added or subtracted)."""
    if a.ndim < 2:
        return None
    red = tuple(i for i in range(a.ndim) if i != (axis % a.ndim))
    shift = (b - a).mean(axis=red)
    if np.abs(shift).max() > 0 and np.allclose(a + np.expand_dims(shift, red), b, rtol=1e-4, atol=1e-4):
        return Candidate("input_scale", "NEW's input is OLD's with a per-channel mean added or subtracted",
                         Transform("mean", tuple(float(v) for v in np.atleast_1d(shift))))
    return None


INPUT_CAUSES: tuple[InputCause, ...] = (input_scale, input_channel_order, input_mean)
"""The input causes in the order they are tried."""


def input_hypotheses(p: InputProbe, row: Row, differing: Sequence[InputDiff]) -> list[Hypothesis]:
    """The inputs differ at `row` (the first whose propagated comparison fails): every recognised fix of NEW's
    input, verified by re-running NEW. Only tried when exactly one input pair differs."""
    if len(differing) != 1 or row.propagated is None:
        return []
    a = p.old_input.astype(np.float64)
    b = p.new_input.astype(np.float64)
    axis = 1 if p.tag_old.fmt == "channels_first" else -1
    hyps = []
    for cause in INPUT_CAUSES:
        found = cause(a, b, axis)
        if found is None:
            continue
        stats = p.rerun(found.transform)
        hyps.append(Hypothesis(found.code, found.title, stats is not None and stats.passed, row.propagated.max_abs,
                               None if stats is None else stats.max_abs, f"pass --pre-new {found.transform}",
                               unfixable="the inputs differ, not NEW's file: compare (and predict) with "
                                         f"--pre-new {found.transform}"))
    return hyps


def nice_fraction(x: float) -> Transform | None:
    """scale:1/255 rather than scale:0.00392157 when the factor is 1/k or k for an integer k."""
    for k in (255.0, 127.5, 256.0, 128.0, 2.0, 10.0, 100.0):
        if abs(x * k - 1) < 1e-5:
            return Transform("scale", (1.0 / k,))
        if abs(x / k - 1) < 1e-5:
            return Transform("scale", (k,))
    return None
