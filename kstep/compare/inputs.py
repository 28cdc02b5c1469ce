"""Provides `read_inputs`: the reference input(s) as OLD and NEW are fed them, with their layout tags and notes.

OLD reads the reference file. NEW reads its own file (`--ref-new`), or else OLD's arrays mapped into NEW's layout:
each input's tag comes from the first image layer that reads it (kstep.compare.layout.input_tag), so a
channels_first OLD and a channels_last NEW get the reference transposed. Then each side's `--pre-old`/`--pre-new`
transforms apply. Every change kstep makes is a note for the report. `differing` lists the input pairs that still
differ (a NEW preprocessed otherwise than OLD), which the first-divergence search blames before any layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from kstep.analysis import Stats
from kstep.compare.layout import Tag, input_tag, to_new, to_old
from kstep.compare.metrics import compare_arrays
from kstep.compare.preprocess import Transform, apply_all
from kstep.compare.tolerance import input_tolerance
from kstep.compare.trace import consumers
from kstep.errors import BadInput
from kstep.io.inputs import read_reference
from kstep.ir import ModelFile


@dataclass(frozen=True)
class Inputs:
    """Both models' feeds by input layer name (batch axis first, each in its model's layout), their layout tags,
    the inputs paired by position as (OLD name, NEW name), and the notes on what kstep changed."""

    old: Mapping[str, np.ndarray]
    new: Mapping[str, np.ndarray]
    tags_old: Mapping[str, Tag]
    tags_new: Mapping[str, Tag]
    pairs: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class InputDiff:
    """One input pair that differs (NEW's mapped into OLD's layout), with the statistics of the difference."""

    old: str
    new: str
    stats: Stats

    def __str__(self) -> str:
        return f"{self.old} vs {self.new}: {self.stats}"


def read_inputs(old: ModelFile, new: ModelFile, ref_path: str, ref_new_path: str | None,
                pre_old: Sequence[Transform] = (), pre_new: Sequence[Transform] = ()) -> Inputs:
    """Read the reference(s) for both models; BadInput when they do not fit (or the input counts differ)."""
    notes: list[str] = []
    feeds_old = read_reference(ref_path, old.model, notes)
    old_names = [r.layer for r in old.model.inputs]
    new_names = [r.layer for r in new.model.inputs]
    if len(old_names) != len(new_names):
        raise BadInput(f"OLD has {len(old_names)} inputs and NEW has {len(new_names)}; kstep pairs inputs "
                       "by position")
    tags_old = {n: input_tag(consumers(old.model, n), feeds_old[n].ndim) for n in old_names}
    if ref_new_path:
        feeds_new = read_reference(ref_new_path, new.model, notes)
    else:
        feeds_new = {}
        for o, n in zip(old_names, new_names):
            feeds_new[n] = new_input_from_old(feeds_old[o], tags_old[o], input_tag(consumers(new.model, n),
                                                                                     feeds_old[o].ndim), n, notes)
    tags_new = {n: input_tag(consumers(new.model, n), feeds_new[n].ndim) for n in new_names}
    for name in old_names:
        feeds_old[name] = prepare(feeds_old[name], pre_old, tags_old[name], f"OLD input '{name}'", notes)
    for name in new_names:
        feeds_new[name] = prepare(feeds_new[name], pre_new, tags_new[name], f"NEW input '{name}'", notes)
    return Inputs(feeds_old, feeds_new, tags_old, tags_new, tuple(zip(old_names, new_names)), tuple(notes))


def new_input_from_old(x: np.ndarray, tag_old: Tag, tag_new: Tag, name: str, notes: list[str]) -> np.ndarray:
    """NEW's input `name` when no --ref-new is given: OLD's array `x` in NEW's layout (noted when transposed)."""
    out = to_new(x, tag_old, tag_new)
    if out is not x:
        notes.append(f"NEW input '{name}' is the reference transposed {tag_old} -> {tag_new}")
    return out


def prepare(x: np.ndarray, pre: Sequence[Transform], tag: Tag, label: str, notes: list[str]) -> np.ndarray:
    """One input after its --pre-* transforms (channel axis from its layout tag), with the notes on what was
    applied, on a float dtype the run casts to float32, and on NaN or Inf. label: "OLD input 'x'"."""
    if pre:
        x = apply_all(x, list(pre), tag.fmt == "channels_first")
        notes.append(f"{label}: applied {', '.join(str(t) for t in pre)}")
    if x.dtype.kind == "f" and x.dtype != np.float32:
        notes.append(f"{label} ({x.dtype}) cast to float32")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        notes.append(f"warning: {label} contains NaN or Inf")
    return x


def differing(inputs: Inputs, rtol: float) -> list[InputDiff]:
    """The input pairs whose arrays differ (NEW's mapped into OLD's layout) beyond input_tolerance(rtol)."""
    out = []
    tol = input_tolerance(rtol)
    for o, n in inputs.pairs:
        stats = compare_arrays(inputs.old[o], to_old(inputs.new[n], inputs.tags_old[o], inputs.tags_new[n]), tol)
        if not stats.passed:
            out.append(InputDiff(o, n, stats))
    return out
