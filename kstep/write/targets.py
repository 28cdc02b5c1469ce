"""Provides `write_target`: a target-ready ModelSpec (kstep.convert.target) -> the file of one conversion target, the
one entry point `kstep convert` calls. One writer module per target format: kstep.write.tfkeras_h5 (a tf_keras 2
legacy .h5) and kstep.write.keras3_archive (a Keras 3 .keras zip)."""

from __future__ import annotations

from kstep.convert.target import Target
from kstep.ir import ModelSpec
from kstep.write.keras3_archive import write_keras3_archive
from kstep.write.tfkeras_h5 import write_tf_keras_h5

WRITERS = {Target.TF_KERAS: write_tf_keras_h5, Target.KERAS3: write_keras3_archive}
"""Target -> its writer `(model, path) -> None`."""


def write_target(model: ModelSpec, target: Target, path: str) -> None:
    """Write `model` as `target` to `path` (the caller's temporary name; it renames it into place). NotExpressible
    (exit 3) is raised before anything is written; `path` is then not created."""
    WRITERS[target](model, path)
