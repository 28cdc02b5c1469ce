"""Provides `read_reference`: a reference input file (.npy, or .npz keyed by input name) -> {input name: array}, all
its samples in memory (`kstep dump`, preflight and tests; the comparison reads ranges through kstep.io.samples).

Arrays are never unpickled, so object arrays are refused; only bool/int/uint/float arrays pass. A missing batch axis
is added (with a note) when the model's declared input rank says so; a batch of 0 samples is refused (nothing would
run, and every comparison would agree vacuously). NaN and Inf values are allowed (a warning note when asked). Every
.npy header is checked before any data is read (kstep.io.npyfile).
"""

from __future__ import annotations

import numpy as np

from kstep.io.samples import open_samples
from kstep.ir import ModelSpec


def read_reference(path: str, model: ModelSpec, notes: list[str] | None = None,
                   warn_nonfinite: bool = False, resize: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Read the reference input for `model`; `notes` collects what kstep changed (batch axis added) and, with
    `warn_nonfinite`, a `warning: ...` note per input holding NaN or Inf (allowed: they propagate as they would
    in Keras); `resize` = (H, W) for an image or a directory of images (nearest-neighbour)."""
    notes = notes if notes is not None else []
    with open_samples(path, model, notes, resize=resize) as samples:
        feeds = samples.read(0, samples.count)
    for name, x in feeds.items():
        if warn_nonfinite and x.dtype.kind == "f" and not np.isfinite(x).all():
            notes.append(f"warning: {path}: input '{name}' contains {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} Inf values; they propagate through the layers")
    return feeds
