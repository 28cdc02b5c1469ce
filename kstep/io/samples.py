"""Provides `open_samples`: a reference input file as N samples read a range at a time (placeholder: reads the whole
file with read_reference; the memory-mapped / streamed reader replaces it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from kstep.errors import BadInput
from kstep.io.inputs import read_reference
from kstep.ir import ModelSpec


@dataclass(frozen=True)
class SampleSet:
    path: str
    names: tuple[str, ...]
    count: int
    start: int
    total: int
    sample_shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, np.dtype]
    arrays: Mapping[str, np.ndarray] = field(repr=False, default_factory=dict)

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return {k: np.array(v[self.start + start:self.start + stop]) for k, v in self.arrays.items()}

    def bytes_per_sample(self) -> int:
        return sum(int(np.prod(s, dtype=np.int64)) * self.dtypes[k].itemsize for k, s in self.sample_shapes.items())

    def close(self) -> None:
        pass


def open_samples(path: str, model: ModelSpec, notes: list[str] | None = None,
                 select: tuple[int | None, int | None] | None = None) -> SampleSet:
    feeds = read_reference(path, model, notes)
    names = tuple(r.layer for r in model.inputs)
    total = feeds[names[0]].shape[0]
    a, b, _ = slice(*(select or (None, None))).indices(total)
    if b <= a:
        raise BadInput(f"--samples selects no sample of the {total} in the file", path=path)
    return SampleSet(path, names, b - a, a, total, {k: v.shape[1:] for k, v in feeds.items()},
                     {k: v.dtype for k, v in feeds.items()}, feeds)
