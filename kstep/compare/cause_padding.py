"""Provides the layer cause `theano_same_padding`: OLD ran a 'same' convolution or pooling on Theano, NEW runs it on
TensorFlow's rule, and the two rules pad differently here (keras-formats.md §4.2: even kernels, strided windows on
sizes where n mod s != 1, every Theano 'same' pool but size 1 and 3 at stride 1).

`theano_padding` gives, per spatial axis, both rules' padding from the engine's own window arithmetic
(kstep.engine._windows, the rules the engine runs each file with; none of it is repeated here). The cause applies only
where the two differ for this layer's input, and it is verified by re-running NEW's layer under Theano's rule
(`Semantics` with the Theano backend; a Conv kernel pre-flipped so that the re-run still cross-correlates): it is
named only when that closes the gap. The action is the exact explicit padding that reproduces Theano in
tf.keras: ZeroPadding{1,2,3}D(((before, after), ...)) and padding='valid', with what that cannot express for pools
(a padded zero may win a max over negative inputs; Theano leaves padded cells out of an average).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

import numpy as np

from kstep.analysis import Hypothesis, Row
from kstep.compare.effective import flip_spatial
from kstep.compare.probe import LayerProbe
from kstep.engine import _windows as W
from kstep.kinds import ConvForm, Family, info
from kstep.semantics import Backend, Semantics

CODE = "theano_same_padding"


class Window(Enum):
    """How a kind slides its window, which decides the padding rule and what explicit padding can express."""

    CONV = "convolution"  # Conv1D/2D/3D, SeparableConv, DepthwiseConv: zero padding, exactly expressible
    MAX_POOL = "max pooling"  # padded cells never win: zeros express it only for inputs >= 0
    AVG_POOL = "average pooling"  # padded cells left out of the mean (counted in Keras 2.0.4-2.1.4)


_CONV_FORMS = (ConvForm.PLAIN, ConvForm.SEPARABLE, ConvForm.DEPTHWISE)


def window_of(kind: str) -> Window | None:
    """The window kind of a layer kind with a 'same' rule kstep can re-run, None for any other kind (transposed
    convolutions, whose 'same' crops an output, are not covered)."""
    record = info(kind)
    if record is None or record.rank is None:
        return None
    if record.family is Family.CONV and record.conv_form in _CONV_FORMS:
        return Window.CONV
    if record.family is Family.POOLING and kind.startswith("MaxPooling"):
        return Window.MAX_POOL
    if record.family is Family.POOLING and kind.startswith("AveragePooling"):
        return Window.AVG_POOL
    return None


@dataclass(frozen=True)
class Padding:
    """Both rules' 'same' padding of one layer on one input: ((before, after), ...) per spatial axis, cells. A
    negative Theano `after` (unused tail cells) is 0 here: padding='valid' then leaves them out too."""

    window: Window
    theano: tuple[tuple[int, int], ...]
    tensorflow: tuple[tuple[int, int], ...]

    @property
    def differs(self) -> bool:
        return self.theano != self.tensorflow


def _spatial(shape: tuple[int, ...], data_format: str) -> tuple[int, ...]:
    """The spatial sizes of a (batch, ...) shape in that data_format."""
    return shape[2:] if data_format == "channels_first" else shape[1:-1]


def theano_padding(kind: str, params: dict, in_shape: tuple[int, ...]) -> Padding | None:
    """Both rules' padding of a 'same' layer (`kind`, canonical `params`) reading `in_shape` (batch first, in the
    layer's data_format); None when the kind has no such rule or the layer is not 'same'."""
    window = window_of(kind)
    if window is None or params.get("padding") != "same":
        return None
    sizes = _spatial(tuple(in_shape), params.get("data_format") or "channels_last")
    record = info(kind)
    if record is None or len(sizes) != record.rank:  # an input of another rank: no rule to compare
        return None
    rules = []
    for theano in (True, False):
        pads = []
        for i, n in enumerate(sizes):
            if window is Window.CONV:
                d = (params.get("dilation_rate") or (1,) * len(sizes))[i]
                a = W.conv_axis(n, params["kernel_size"][i], params["strides"][i], d, "same", theano)
            else:
                s = (params.get("strides") or params["pool_size"])[i]
                a = W.pool_axis(n, params["pool_size"][i], s, "same", theano, len(sizes))
            pads.append((a.before, max(a.after, 0)))
        rules.append(tuple(pads))
    return Padding(window, rules[0], rules[1])


def _padding(p: LayerProbe) -> Padding | None:
    """This pair's padding when OLD ran the layer 'same' on Theano and NEW on another backend, else None."""
    if not p.old_sem.theano or p.new_sem.theano or p.old_spec.params.get("padding") != "same":
        return None
    inputs = p.old_inputs
    if not inputs:
        return None
    old_fmt = p.old_spec.params.get("data_format") or "channels_last"
    new_fmt = p.new_spec.params.get("data_format") or "channels_last"
    sizes = _spatial(tuple(inputs[0].shape), old_fmt)
    shape = (1, 1, *sizes) if new_fmt == "channels_first" else (1, *sizes, 1)
    return theano_padding(p.new_spec.kind, p.new_spec.params, shape)


def applies(p: LayerProbe, row: Row) -> bool:
    """OLD's Theano and NEW's TensorFlow 'same' rules pad this layer's input differently."""
    found = _padding(p)
    return found is not None and found.differs


def theano_semantics(new: Semantics, old: Semantics) -> Semantics:
    """NEW's semantics with Theano's padding rules (and OLD's version, which decides Theano's average pool)."""
    return dataclasses.replace(new, backend=Backend.THEANO, keras_version=old.keras_version)


def _pairs_text(pads: tuple[tuple[int, int], ...]) -> str:
    return str(pads[0]) if len(pads) == 1 else str(pads)


def action(name: str, params: dict, found: Padding, old_sem: Semantics, low: float | None) -> str:
    """What the user does to NEW's layer `name`: the explicit padding that reproduces Theano's (and, for pools,
    whether it is exact; `low` is the smallest value the layer reads, None when unknown)."""
    rank = len(found.theano)
    fmt = params.get("data_format") or "channels_last"
    where = f", data_format={fmt!r}" if rank > 1 and fmt == "channels_first" else ""
    pad = f"ZeroPadding{rank}D(padding={_pairs_text(found.theano)}{where})"
    text = (f"reproduce Theano's 'same' padding: insert {pad} before {name} and build {name} with "
            f"padding='valid' (TensorFlow's 'same' pads {_pairs_text(found.tensorflow)})")
    if found.window is Window.MAX_POOL:
        if low is not None and low >= 0:
            return text + "; exact here: the pool reads values >= 0, so a padded zero never wins the max"
        return (text + "; exact only for inputs >= 0 (Theano's padded cells never win the max; this pool reads "
                "negative values, so pad with -inf in a custom layer instead of zeros)")
    if found.window is Window.AVG_POOL:
        if old_sem.avg_pool_same_counts_padding:
            return text + "; exact: Keras 2.0.4-2.1.4 on Theano counted the padded zeros in the mean too"
        return (f"not expressible as ZeroPadding + padding='valid' (that counts the padded zeros in the mean; "
                f"Theano leaves them out): a custom layer that pads {_pairs_text(found.theano)} and divides each "
                f"window's sum by its number of real cells reproduces {name}; TensorFlow's 'same' pads "
                f"{_pairs_text(found.tensorflow)}")
    return text


UNFIXABLE = ("Theano's padding needs an explicit ZeroPadding layer before this one; kstep fix edits NEW's weights and "
             "config, it does not add layers")


def _hypothesis(p: LayerProbe, row: Row, title: str, text: str, weights: list[np.ndarray], sem: Semantics
                ) -> Hypothesis:
    stats = p.isolated(weights=weights, sem=sem)
    gap = row.isolated if row.isolated is not None else row.propagated
    return Hypothesis(CODE, title, bool(stats is not None and stats.passed), None if gap is None else gap.max_abs,
                      None if stats is None else stats.max_abs, text, unfixable=UNFIXABLE)


def tries(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """NEW's layer re-run with Theano's padding; when that alone does not close the gap and Theano flips this kind,
    also with the kernel flipped (a migration that neither flipped the kernels nor changed the padding)."""
    found = _padding(p)
    assert found is not None
    name = row.new.key if row.new is not None else row.name
    kind = p.new_spec.kind
    sem = theano_semantics(p.new_sem, p.old_sem)
    weights = list(p.new_weights)
    flips = sem.flips_kernel(kind) and bool(weights)
    if flips:  # the Theano re-run flips the kernel: hand it pre-flipped, so it still cross-correlates NEW's
        weights = [flip_spatial(weights[0])] + weights[1:]
    low = float(np.min(p.old_inputs[0])) if p.old_inputs[0].size else None
    text = action(name, p.new_spec.params, found, p.old_sem, low)
    title = (f"Theano pads 'same' {_pairs_text(found.theano)}, TensorFlow {_pairs_text(found.tensorflow)} "
             f"({found.window.value}, keras-formats.md §4.2)")
    out = [_hypothesis(p, row, title, text, weights, sem)]
    if flips and not out[0].explains:
        out.append(_hypothesis(p, row, title + "; and the kernels need flipping", text + "; and flip its kernel "
                               "with keras.utils.conv_utils.convert_kernel (Theano convolves)", list(p.new_weights),
                               sem))
    return out
