"""Provides the conversion targets and the contract between the baking pass and the target writers.

A *target-ready* `ir.ModelSpec` (what `kstep.convert.bake` produces and every target writer accepts):
- every layer's `kind` is a standard tf.keras 2 class name (no Keras-1-only kind such as `Merge`, `MaxoutDense`,
  `Highway`, `TimeDistributedDense`); `wrapped` and `inner` are target-ready too;
- `params` are tf.keras 2 config keys with every value stated explicitly (tuples for spatial params), so the target
  computes exactly what the model means when it reads them with its own defaults for anything not stated;
- every `WeightRef.load()` returns the array in the canonical tf.keras 2 layout *with every version semantic already
  baked in* (Theano kernels flipped, Keras 1 gates merged, variances not standard deviations): the target runs the
  arrays as they are; weights are in `kinds.weight_names_of(kind, params)` order (a wrapper: its own, then each
  wrapped layer's);
- `calls` and the model's `inputs`/`outputs` describe the graph as before; layer names are unique in each model.
A writer never decides semantics: it maps names, config spellings, attribute encodings and variable layout of one
format. Something the format cannot express is `NotExpressible` (exit 3), raised before anything is written.
"""

from __future__ import annotations

import os
from enum import Enum

from kstep.errors import ExitCode, KstepError, UsageError


class Target(str, Enum):
    """What `kstep convert` writes."""

    TF_KERAS = "tf.keras"
    """A legacy HDF5 file as tf_keras 2.x writes it (`model_config` + `model_weights`, backend tensorflow): `.h5`."""
    KERAS3 = "keras3"
    """A Keras 3 archive (`config.json`, `metadata.json`, `model.weights.h5` in Keras 3's variable layout): `.keras`."""

    @property
    def extensions(self) -> tuple[str, ...]:
        """The name endings under which the target's standard loader reads the file as this format."""
        return (".h5", ".hdf5") if self is Target.TF_KERAS else (".keras",)

    @classmethod
    def for_output(cls, out: str, asked: "Target | None" = None) -> "Target":
        """The target for OUT's name: `asked` when given and consistent with the extension, else the extension's.

        UsageError (exit 2) when the extension is neither, or contradicts `asked`."""
        ext = os.path.splitext(out)[1].lower()
        by_ext = next((t for t in cls if ext in t.extensions), None)
        if by_ext is None:
            raise UsageError(f"cannot tell the target format from the name '{out}'",
                             "name OUT .h5 (tf.keras) or .keras (Keras 3)")
        if asked is not None and asked is not by_ext:
            raise UsageError(f"--to {asked.value} contradicts the name '{out}'",
                             f"name OUT {' or '.join(asked.extensions)} for --to {asked.value}")
        return by_ext


class Layout(str, Enum):
    """`--layout`: move image models to channels_last (the default) or keep the original ordering."""

    CHANNELS_LAST = "channels_last"
    KEEP = "keep"


class NotExpressible(KstepError):
    """A layer (or configuration) the target format cannot express exactly: nothing is written (exit 3)."""

    exit_code = ExitCode.UNSUPPORTED

    def __init__(self, layer: str, why: str, hint: str | None = None, *, path: str | None = None):
        super().__init__(f"layer '{layer}' cannot be converted: {why}", hint, path=path)
        self.layer = layer
        self.why = why
