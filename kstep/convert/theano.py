"""Provides the baking passes for what Theano computed differently from TensorFlow: its true convolution (kernels
flipped into the target's cross-correlation form) and its 'same' padding (an explicit ZeroPadding layer and
padding='valid' wherever the two rules pad differently; keras-formats.md §4.1, §4.2).
"""

from __future__ import annotations

from kstep.compare.cause_padding import Window, theano_padding
from kstep.compare.effective import flip_spatial
from kstep.convert.annotate import Annotations
from kstep.convert.graph import call_key, derived, insert_before, new_layer, swap_weights, walk
from kstep.convert.pool_regions import split_pool
from kstep.convert.target import NotExpressible
from kstep.ir import LayerSpec, ModelSpec
from kstep.kinds import info
from kstep.semantics import Semantics


def _flippable(spec: LayerSpec, sem: Semantics) -> list[tuple[LayerSpec, int]]:
    """(layer whose kind flips, index into its weights) for `spec` and the layers it wraps."""
    out: list[tuple[LayerSpec, int]] = []
    for holder in (spec, *spec.wrapped):
        record = info(holder.kind)
        if record is not None and sem.flips_kernel(holder.kind):
            out.extend((holder, i) for i in record.flipped_by_theano if i < len(holder.weights))
    return out


def bake_flips(model: ModelSpec, sem: Semantics, done: list[str]) -> None:
    """Every kernel Theano convolved with (true convolution) flipped along its spatial axes, so that the target's
    cross-correlation computes the same; nested models and wrapped layers included."""
    for _prefix, _holder_model, spec in walk(model):
        for holder, i in _flippable(spec, sem):
            ref = holder.weights[i]
            new = derived(ref, flip_spatial, ref.shape, "spatial axes flipped (Theano convolution)")
            swap_weights(spec, ref, new)
            if holder is not spec:
                swap_weights(holder, ref, new)
            done.append(f"flipped the spatial axes of {spec.name}'s {ref.name} (Theano ran a true convolution)")


def bake_padding(model: ModelSpec, sem: Semantics, ann: Annotations, done: list[str]) -> None:
    """Theano's 'same' padding made explicit where TensorFlow's differs: ZeroPadding{r}D + padding='valid' for
    convolutions and for average pools whose Keras counted padded zeros (2.0.4-2.1.4); other pools refused."""
    if not sem.theano:
        return
    for prefix, holder_model, spec in walk(model):
        if spec.params.get("padding") != "same":
            continue
        found = None
        for c in range(len(spec.calls)):
            seen = ann.of(call_key(prefix, spec, c))
            if seen is None:
                continue
            shape = seen.in_shapes[0]
            if seen.in_tags[0].fmt == "channels_first" and spec.params.get("data_format") == "channels_last":
                shape = (shape[0], *shape[2:], shape[1])  # the layout pass already moved this layer
            pad = theano_padding(spec.kind, spec.params, shape)
            if pad is None or not pad.differs:
                continue
            if found is not None and pad.theano != found.theano:
                raise NotExpressible(spec.name, "its calls need different explicit paddings to reproduce Theano's "
                                                "'same' padding (one layer cannot hold two)")
            found = pad
        if found is None:
            continue
        if found.window is Window.MAX_POOL or (found.window is Window.AVG_POOL
                                               and not sem.avg_pool_same_counts_padding):
            split_pool(holder_model, spec, shape, done)
            continue
        rank = len(found.theano)
        params: dict = {"padding": found.theano}
        if rank > 1:
            params["data_format"] = spec.params.get("data_format") or "channels_last"
        pad_layer = new_layer(holder_model, f"{spec.name}_theano_pad", f"ZeroPadding{rank}D", params)
        insert_before(holder_model, spec, pad_layer)
        spec.params["padding"] = "valid"
        done.append(f"{spec.name}: Theano's 'same' padding {found.theano} made explicit as {pad_layer.name} "
                    f"(ZeroPadding{rank}D) + padding='valid' (TensorFlow's 'same' pads {found.tensorflow})")
