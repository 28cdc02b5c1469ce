"""Provides the typed description of a repair: `Edit`, one change to NEW's file, and `AppliedFix`, an edit that
`kstep fix` applied with the gap it closed.

An edit is data only (no arrays): a weight edit names NEW's layer, the canonical weight indices it transforms and
the `FixOp` (with its small arguments); a config edit names the canonical config key and the value. Every weight op
but one is a function of NEW's own stored array alone (never of OLD's weights or of facts about OLD), so an edit can
be written into NEW's file: kstep.compare.fixes computes the arrays, kstep.write writes them. The exception,
OLD_WEIGHTS, is applied only for the layers a user names (`kstep fix --accept-old-weights LAYER`), its arrays
supplied. The diagnosis attaches the edits that its verified re-run used to its `Hypothesis` (kstep.analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FixOp(StrEnum):
    """What an edit does; the value is the verb the reports show before the weight or key."""

    FLIP_SPATIAL = "flip the spatial axes of"  # keras.utils.conv_utils.convert_kernel: kernel[::-1, ::-1]
    SWAP_ROWS_COLUMNS = "swap the rows and columns of"  # a square 2-D kernel transposed (1, 0, 2, 3)
    FLATTEN_ROWS = "reorder the rows of"  # args: (from_order, to_order, channels, *spatial)
    PERMUTE_GATES = "reorder the gate blocks of"  # args: the permutation (new block i <- old block args[i])
    SQRT = "take the square root of"
    SQUARE = "square"
    SUM_GRU_BIASES = "sum the input and recurrent rows of"  # a (2, 3u) GRU bias -> (3u,) for reset_after=False
    OLD_WEIGHTS = "replace with OLD's weights (in NEW's form)"  # args: (OLD's layer key,); only when asked for
    SET_CONFIG = "set"  # key, value


WEIGHT_OPS = frozenset(FixOp) - {FixOp.SET_CONFIG}


@dataclass(frozen=True)
class Edit:
    """One change to NEW's file. layer: NEW's layer key (NAME, or OUTER/INNER in a nested model); weights: the
    canonical weight indices a weight op transforms (each independently); args: the op's arguments; key/value: the
    canonical (tf.keras 2) config key and its new value, for SET_CONFIG; names: the layer's canonical weight names
    (display only: 'kernel', 'bias', ...)."""

    layer: str
    op: FixOp
    weights: tuple[int, ...] = ()
    args: tuple[object, ...] = ()
    key: str = ""
    value: object = None
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.op is FixOp.SET_CONFIG) != bool(self.key) or (self.op in WEIGHT_OPS) != bool(self.weights):
            raise ValueError(f"an edit {self.op.name} with key {self.key!r} and weights {self.weights}")

    @property
    def is_config(self) -> bool:
        return self.op is FixOp.SET_CONFIG

    def describe(self) -> str:
        """The words the reports show: 'flip the spatial axes of conv1's kernel', 'set epsilon=0.001 on bn1'."""
        if self.is_config:
            return f"set {self.key}={self.value!r} on {self.layer}"
        names = [self.names[i] if i < len(self.names) else f"weight {i}" for i in self.weights]
        what = f"{self.layer}'s {' and '.join(names)}"
        if self.op is FixOp.PERMUTE_GATES:
            return f"{self.op} {what} (order {self.args})"
        if self.op is FixOp.FLATTEN_ROWS and len(self.args) >= 2:
            return f"{self.op} {what} from {self.args[0]} to {self.args[1]} order"
        return f"{self.op} {what}"

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class AppliedFix:
    """One fix `kstep fix` applied: the verified cause at NEW's layer, its edits, and the first divergence's gap
    (max |Δ|, isolated where measured) before the edits and at that row once they were applied (None: not
    measured, e.g. the models then agreed from that row on)."""

    cause: str
    title: str
    layer: str
    edits: tuple[Edit, ...]
    before: float | None
    after: float | None
