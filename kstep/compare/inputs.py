"""Provides `InputSet`: the reference samples as OLD and NEW are fed them, a range at a time, with their layout tags
and notes.

OLD reads the reference file. NEW reads its own file (`--ref-new`), or else OLD's arrays mapped into NEW's layout:
each input's tag comes from the first image layer that reads it (kstep.compare.layout.input_tag), so a
channels_first OLD and a channels_last NEW get the reference transposed. Then each side's `--pre-old`/`--pre-new`
transforms apply. Every change kstep makes is a note for the report. `differing` lists the input pairs that still
differ (a NEW preprocessed otherwise than OLD), which the first-divergence search blames before any layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from kstep.analysis import Stats
from kstep.compare.layout import Tag, input_tag, moved_input_tag, to_new, to_old
from kstep.compare.metrics import compare_arrays
from kstep.compare.preprocess import Transform, apply_all
from kstep.compare.tolerance import input_tolerance
from kstep.compare.trace import consumers
from kstep.errors import BadInput
from kstep.io.samples import open_samples
from kstep.ir import ModelFile

if TYPE_CHECKING:
    from kstep.options import CompareOptions


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


class InputSet:
    """The reference samples for both models, read a range at a time (`chunk`): OLD's from the reference file,
    NEW's from `--ref-new` or OLD's mapped into NEW's layout, each side's `--pre-*` applied. count: samples compared;
    first: the absolute index of the first one in the file; notes: what kstep changed (grows as chunks are read)."""

    def __init__(self, old: ModelFile, new: ModelFile, ref_path: str, ref_new_path: str | None,
                 pre_old: Sequence[Transform] = (), pre_new: Sequence[Transform] = (),
                 select: tuple[int | None, int | None] | None = None, more: Sequence[str] = (),
                 resize: tuple[int, int] | None = None):
        """more: further REF image paths (the batch's further samples); resize: (H, W) for image REFs."""
        self.notes: list[str] = []
        self.pre_old, self.pre_new = tuple(pre_old), tuple(pre_new)
        self.old_names = [r.layer for r in old.model.inputs]
        self.new_names = [r.layer for r in new.model.inputs]
        if len(self.old_names) != len(self.new_names):
            raise BadInput(f"OLD has {len(self.old_names)} inputs and NEW has {len(self.new_names)}; kstep pairs "
                           "inputs by position")
        self.old_set = open_samples(ref_path, old.model, self.notes, select, more, resize)
        self.new_set = (open_samples(ref_new_path, new.model, self.notes, select, resize=resize) if ref_new_path
                        else None)
        if self.new_set is not None and self.new_set.count != self.old_set.count:
            raise BadInput(f"the reference has {self.old_set.count} samples and --ref-new {self.new_set.count}",
                           path=ref_new_path)
        self.count, self.first = self.old_set.count, self.old_set.start
        rank = {n: len(self.old_set.sample_shapes[n]) + 1 for n in self.old_names}
        self.tags_old = {n: input_tag(consumers(old.model, n), rank[n]) for n in self.old_names}
        if self.new_set is not None:
            new_rank = {n: len(self.new_set.sample_shapes[n]) + 1 for n in self.new_names}
        else:
            new_rank = {n: rank[o] for o, n in zip(self.old_names, self.new_names)}
        self.tags_new = {n: input_tag(consumers(new.model, n), new_rank[n]) for n in self.new_names}
        if self.new_set is None:
            for o, n in zip(self.old_names, self.new_names):
                declared = new.model.layer(n).params.get("batch_input_shape")
                self.tags_new[n] = moved_input_tag(self.tags_old[o], self.tags_new[n],
                                                   (None, *self.old_set.sample_shapes[o]), declared)

    @classmethod
    def from_options(cls, old: ModelFile, new: ModelFile, ref_path: str, ref_new_path: str | None,
                     options: CompareOptions) -> InputSet:
        """The set as `options` asks: each side's --pre-*, --samples, more REF images, --resize."""
        return cls(old, new, ref_path, ref_new_path, options.pre_old, options.pre_new, options.samples,
                   options.more_refs, options.resize)

    def bytes_per_sample(self) -> int:
        """Bytes one sample of the reference(s) holds as stored."""
        return self.old_set.bytes_per_sample() + (self.new_set.bytes_per_sample() if self.new_set else 0)

    def chunk(self, start: int, stop: int) -> Inputs:
        """Samples [start, stop) (relative to the selection) as both models are fed them."""
        notes = self.notes
        feeds_old = self.old_set.read(start, stop)
        if self.new_set is not None:
            feeds_new = self.new_set.read(start, stop)
        else:
            feeds_new = {n: new_input_from_old(feeds_old[o], self.tags_old[o], self.tags_new[n], n, notes)
                         for o, n in zip(self.old_names, self.new_names)}
        for name in self.old_names:
            feeds_old[name] = prepare(feeds_old[name], self.pre_old, self.tags_old[name], f"OLD input '{name}'", notes)
        for name in self.new_names:
            feeds_new[name] = prepare(feeds_new[name], self.pre_new, self.tags_new[name], f"NEW input '{name}'", notes)
        return Inputs(feeds_old, feeds_new, self.tags_old, self.tags_new, tuple(zip(self.old_names, self.new_names)),
                      tuple(notes))

    def close(self) -> None:
        self.old_set.close()
        if self.new_set is not None:
            self.new_set.close()


def new_input_from_old(x: np.ndarray, tag_old: Tag, tag_new: Tag, name: str, notes: list[str]) -> np.ndarray:
    """NEW's input `name` when no --ref-new is given: OLD's array `x` in NEW's layout (noted once when
    transposed)."""
    out = to_new(x, tag_old, tag_new)
    if out is not x:
        _note(notes, f"NEW input '{name}' is the reference transposed {tag_old} -> {tag_new}")
    return out


def _note(notes: list[str], text: str) -> None:
    """Add a note once (every chunk reports the same things)."""
    if text not in notes:
        notes.append(text)


def prepare(x: np.ndarray, pre: Sequence[Transform], tag: Tag, label: str, notes: list[str]) -> np.ndarray:
    """One input after its --pre-* transforms (channel axis from its layout tag), with the notes on what was
    applied, on a float dtype the run casts to float32, and on NaN or Inf. label: "OLD input 'x'"."""
    if pre:
        x = apply_all(x, list(pre), tag.fmt == "channels_first")
        _note(notes, f"{label}: applied {', '.join(str(t) for t in pre)}")
    if x.dtype.kind == "f" and x.dtype != np.float32:
        _note(notes, f"{label} ({x.dtype}) cast to float32")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        _note(notes, f"warning: {label} contains NaN or Inf")
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
