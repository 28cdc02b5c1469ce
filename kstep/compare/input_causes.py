"""Provides the input diagnosis: `INPUT_CAUSES`, the known ways NEW's reference input was preprocessed otherwise.

When the two models' inputs differ, each cause looks at the pair (OLD's input and NEW's, mapped into OLD's layout,
in float64) and, when it recognises the difference (a scale such as 0..255 vs 0..1, reversed channels, a
per-channel mean, different keras preprocess_input modes), names the `--pre-new` transforms that undo it. Each
candidate is verified by re-running the whole NEW model on the corrected input (kstep.compare.probe.InputProbe): it
explains only when the first divergent row then agrees. Causes are tried in list order; a new one is one function
and one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from kstep.analysis import Hypothesis, Row
from kstep.compare.inputs import InputDiff
from kstep.compare.preprocess import PRESETS, Transform, chain, preset, undo_preset
from kstep.compare.probe import InputProbe


@dataclass(frozen=True)
class Candidate:
    """A recognised input difference: its cause code, what was seen, and the transforms of NEW's input that undo
    it (the `--pre-new` values, in order). keras_mode: the preprocess_input mode OLD's input was made with when the
    cause is a preset ("" for a raw input, None when the cause is not about presets)."""

    code: str
    title: str
    transforms: tuple[Transform, ...]
    keras_mode: str | None = None

    def flags(self) -> str:
        """'--pre-new undo:tf --pre-new caffe'."""
        return " ".join(f"--pre-new {t}" for t in self.transforms)


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
                     (Transform("scale", (1.0 / s,)) if nice is None else nice,))


def input_channel_order(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """NEW's input has the channel axis reversed (RGB vs BGR)."""
    if a.ndim >= 3 and np.allclose(np.flip(a, axis=axis), b, rtol=1e-4, atol=1e-5):
        return Candidate("input_channel_order", "NEW's input has its channels reversed (RGB vs BGR)",
                         (Transform("bgr", ()),))
    return None


def input_mean(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """NEW's input is OLD's plus a per-channel constant (a mean added or subtracted)."""
    if a.ndim < 2:
        return None
    red = tuple(i for i in range(a.ndim) if i != (axis % a.ndim))
    shift = (b - a).mean(axis=red)
    if np.abs(shift).max() > 0 and np.allclose(a + np.expand_dims(shift, red), b, rtol=1e-4, atol=1e-4):
        return Candidate("input_scale", "NEW's input is OLD's with a per-channel mean added or subtracted",
                         (Transform("mean", tuple(float(v) for v in np.atleast_1d(shift))),))
    return None


def input_preprocessing(a: np.ndarray, b: np.ndarray, axis: int) -> Candidate | None:
    """The two inputs are one raw RGB 0..255 image run through different keras preprocess_input modes (or one
    side raw): OLD's input undone by OLD's preset and redone by NEW's is NEW's. The fix: undo NEW's preset, apply
    OLD's."""
    modes: list[str | None] = [*PRESETS, None]
    for m_old in modes:
        for m_new in modes:
            if m_old == m_new or not _fits(a, axis, m_old, m_new):
                continue
            raw = a if m_old is None else undo_preset(a, PRESETS[m_old], axis)
            made = raw if m_new is None else preset(raw, PRESETS[m_new], axis)
            if not np.allclose(made, b, rtol=1e-4, atol=1e-4):
                continue
            fix = ((Transform("undo", (m_new,)),) if m_new else ()) + ((Transform(m_old, ()),) if m_old else ())
            return Candidate("input_preprocessing", f"OLD's input is {_said(m_old)} and NEW's {_said(m_new)}",
                             fix, m_old or "")
    return None


def _fits(a: np.ndarray, axis: int, *modes: str | None) -> bool:
    """Every mode among `modes` can run on `a` (caffe and torch need 3 channels)."""
    needs3 = any(m is not None and (PRESETS[m].flip or PRESETS[m].std) for m in modes)
    return not needs3 or (a.ndim >= 2 and a.shape[axis] == 3)


def _said(mode: str | None) -> str:
    return "raw (no preprocess_input)" if mode is None else f"preprocess_input(mode='{mode}')"


INPUT_CAUSES: tuple[InputCause, ...] = (input_scale, input_channel_order, input_mean, input_preprocessing)
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
        stats = p.rerun(chain(found.transforms))
        flags = found.flags()
        hyps.append(Hypothesis(found.code, found.title, stats is not None and stats.passed, row.propagated.max_abs,
                               None if stats is None else stats.max_abs, f"pass {flags}{keras_advice(found, p)}",
                               unfixable=f"the inputs differ, not NEW's file: compare (and predict) with {flags}"))
    return hyps


def keras_advice(found: Candidate, p: InputProbe) -> str:
    """For a preset cause: the Keras line that makes NEW's input as OLD's was made (from the raw image `x`)."""
    if found.keras_mode is None:
        return ""
    if not found.keras_mode:
        return "; in Keras, feed NEW the raw image x as OLD (no preprocess_input)"
    call = PRESETS[found.keras_mode].keras_call(p.tag_new.fmt == "channels_first")
    return f"; in Keras, feed NEW {call} of the raw image x, as OLD"


def nice_fraction(x: float) -> Transform | None:
    """scale:1/255 rather than scale:0.00392157 when the factor is 1/k or k for an integer k."""
    for k in (255.0, 127.5, 256.0, 128.0, 2.0, 10.0, 100.0):
        if abs(x * k - 1) < 1e-5:
            return Transform("scale", (1.0 / k,))
        if abs(x / k - 1) < 1e-5:
            return Transform("scale", (k,))
    return None
