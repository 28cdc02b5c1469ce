"""Provides the input `kstep convert` checks OUT on when no `--check REF` is given: seeded, batch 2, MODEL's input
shapes with 8 for every unknown dimension; an input read by an Embedding holds integers drawn in [0, input_dim),
every other one standard normal floats (negative values included, so a max pool's padding would show).
"""

from __future__ import annotations

import os

import numpy as np

from kstep.convert.annotate import UNKNOWN_DIM, input_dtype, input_shape
from kstep.io.npyfile import save_npz
from kstep.ir import ModelSpec

SEED = 20261202
BATCH = 2


def _embedding_size(model: ModelSpec, name: str) -> int | None:
    """input_dim of the first Embedding that reads input `name` (None when none does)."""
    for spec in model.layers:
        if spec.kind == "Embedding" and any(r.layer == name for c in spec.calls for r in c.inputs):
            return int(spec.params.get("input_dim") or 1)
    return None


def random_feeds(model: ModelSpec) -> dict[str, np.ndarray]:
    """{input name: array} for every model input (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    feeds = {}
    for ref in model.inputs:
        shape = (BATCH,) + tuple(UNKNOWN_DIM if d is None else d for d in input_shape(model, ref.layer)[1:])
        dtype = input_dtype(model, ref.layer)
        vocab = _embedding_size(model, ref.layer)
        if vocab is not None:
            feeds[ref.layer] = rng.integers(0, vocab, size=shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[ref.layer] = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            feeds[ref.layer] = rng.standard_normal(shape).astype(dtype if dtype.kind == "f" else np.float32)
    return feeds


def write_feeds(feeds: dict[str, np.ndarray], directory: str) -> str:
    """The feeds as a REF file in `directory`: .npy for one input, else .npz keyed by input name."""
    if len(feeds) == 1:
        path = os.path.join(directory, "check_input.npy")
        np.save(path, next(iter(feeds.values())))
    else:
        path = os.path.join(directory, "check_input.npz")
        with open(path, "wb") as fh:
            save_npz(fh, feeds)
    return path
