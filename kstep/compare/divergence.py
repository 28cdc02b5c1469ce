"""Provides the first-divergence search over judged rows, in OLD's execution order: `DivergenceSearch`.

Rows are fed one at a time as they are judged (so the debugger names the first divergence long before a big model
has finished). When the reference inputs differ, the first row whose propagated comparison fails is blamed on the
input. Otherwise the search stops at the first unsupported row, the first layer present in one model only (identity
layers such as Dropout excepted; an explicit ZeroPadding is held until the next aligned row shows whether it
reproduces OLD), or the first mismatch or divergence. The diagnosis is a callable given to the
search (kstep.compare.diagnose, kstep.compare.input_causes), so the search itself is testable on `Row`s alone.
`name_the_others` then adds to a verified weight-transform cause every later layer whose weights show the same one.
"""

from __future__ import annotations

from typing import Callable, Sequence

from kstep.analysis import (
    AGREE,
    DIVERGE,
    MISMATCH,
    NOISE,
    UNMATCHED,
    UNSUPPORTED,
    FirstDivergence,
    Hypothesis,
    Reason,
    Row,
    Side,
    WeightTransform,
    WeightVerdict,
)
from kstep.compare.inputs import InputDiff
from kstep.kinds import kinds_where

LayerDiagnosis = Callable[[Row], list[Hypothesis]]
"""Row -> the layer hypotheses tried on it."""
InputDiagnosis = Callable[[Row, Sequence[InputDiff]], list[Hypothesis]]
"""(row, the differing inputs) -> the input hypotheses tried."""

IDENTITY_KINDS = kinds_where("identity")
"""Layers that are the identity at inference: missing on one side, they change nothing (from kstep.kinds)."""
PADDING_KINDS = frozenset(f"ZeroPadding{r}D" for r in (1, 2, 3))
"""Explicit padding present in one model only (the fix for Theano's 'same', whose NEW layer pads 'valid'): judged
by the next aligned row, which must agree; otherwise it is reported as the architecture change it is."""

SAME_MISTAKE = {"theano_kernel_flip": WeightTransform.SPATIAL_FLIP,
                "flatten_dense_order": WeightTransform.FLATTEN_ROW_ORDER,
                "rnn_gate_order": WeightTransform.GATE_ORDER,
                "conv_kernel_layout": WeightTransform.KERNEL_ROWS_COLUMNS}
"""Cause code -> the weight transform that marks the same mistake in other layers."""


class DivergenceSearch:
    """The search state: `first` (None until found) and `ended` (found, or no more rows to look at)."""

    def __init__(self, inputs_differing: Sequence[InputDiff], diagnose_layer: LayerDiagnosis,
                 diagnose_inputs: InputDiagnosis, hold_new_only: bool = False):
        """hold_new_only: every layer present in NEW only waits, like an explicit padding, for the next aligned row
        to agree (CompareOptions.outputs_only)."""
        self.inputs_differing = list(inputs_differing)
        self.diagnose_layer = diagnose_layer
        self.diagnose_inputs = diagnose_inputs
        self.first: FirstDivergence | None = None
        self.ended = False
        self.held: Row | None = None  # a one-side padding row waiting for the next aligned row to agree
        self.hold_new_only = hold_new_only

    def feed(self, row: Row) -> FirstDivergence | None:
        """Look at the next judged row (a no-op once the search has ended); the first divergence once found."""
        if not self.ended:
            self.first = self._examine(row)
            self.ended = self.first is not None
        return self.first

    def end(self) -> FirstDivergence | None:
        """No more rows will come (a padding row still held is then an architecture change)."""
        if self.first is None and self.held is not None:
            self.first = _architecture(self.held)
        self.ended = True
        return self.first

    def _examine(self, row: Row) -> FirstDivergence | None:
        differing = self.inputs_differing
        if differing:
            if row.propagated is not None and not row.propagated.passed:
                return _first(row, Reason.INPUT, self.diagnose_inputs(row, differing),
                              "the inputs differ: " + ", ".join(str(d) for d in differing))
            return None
        if row.status == UNSUPPORTED:
            return FirstDivergence(row.index, _key(row.old), _key(row.new), Reason.UNSUPPORTED, "unsupported_layer",
                                   [], row.note + "; the comparison stops here")
        if row.status == UNMATCHED:
            side = row.old or row.new
            assert side is not None
            if side.kind in IDENTITY_KINDS:
                return None
            if side.kind in PADDING_KINDS and self.held is None:
                self.held = row
                return None
            if self.hold_new_only and row.old is None:
                self.held = self.held or row
                return None
            return _architecture(self.held or row)
        held, self.held = self.held, None
        if held is not None and row.status not in (AGREE, NOISE, DIVERGE, MISMATCH):
            return _architecture(held)  # the next aligned row neither agrees nor differs on its own
        if row.status in (MISMATCH, DIVERGE):
            shapes_differ = row.propagated is not None and row.propagated.shape_old != row.propagated.shape_new
            reason = Reason.SHAPE if shapes_differ else Reason.ACTIVATION if row.weights_ok else Reason.WEIGHTS
            return _first(row, reason, self.diagnose_layer(row), summary(row))
        return None


def find_first(rows: Sequence[Row], search: DivergenceSearch) -> FirstDivergence | None:
    """Feed `rows` in order until the search ends, then end it (every row there is has been seen)."""
    for row in rows:
        if search.feed(row) is not None:
            break
    return search.end()


def name_the_others(first: FirstDivergence | None, rows: Sequence[Row]) -> None:
    """When the verified cause is a weight transform, name every later layer whose weights show the same one (in
    the explaining hypothesis's action: 'the same fix applies to ...')."""
    if first is None or first.cause not in SAME_MISTAKE:
        return
    transform = SAME_MISTAKE[first.cause]
    others = [r.new.key for r in rows[first.row + 1:] if r.new is not None
              and any(w.verdict.transform is transform for w in r.weights)]
    explained = first.explanation
    if others and explained is not None and "same fix applies" not in explained.action:
        explained.action += f"; the same fix applies to {', '.join(others)} (weights {WeightVerdict.up_to(transform)})"


def summary(row: Row) -> str:
    """One line on what differs at a row: its note, each weight that is not ok, the error, the config diff."""
    parts = []
    if row.note:
        parts.append(row.note)
    for w in row.weights:
        if not w.verdict.ok:
            parts.append(f"weight {w.name_new or w.name_old}: {w.verdict}")
    if row.isolated is not None:
        parts.append(f"isolated: {row.isolated}")
    elif row.propagated is not None:
        parts.append(f"propagated: {row.propagated}")
    for key, a, b in row.config_diff:
        parts.append(f"config {key}: {a!r} vs {b!r}")
    return "; ".join(parts)


def _first(row: Row, reason: Reason, hyps: list[Hypothesis], text: str) -> FirstDivergence:
    cause = next((h.code for h in hyps if h.explains), None)
    return FirstDivergence(row.index, _key(row.old), _key(row.new), reason, cause, hyps, text)


def _architecture(row: Row) -> FirstDivergence:
    """A layer present in one model only (not the identity) is where the models part."""
    side = row.side
    return FirstDivergence(row.index, _key(row.old), _key(row.new), Reason.ARCHITECTURE, "architecture_changed", [],
                           f"layer {side.key} ({side.kind}) is {row.note}")


def _key(side: Side | None) -> str | None:
    return None if side is None else side.key
