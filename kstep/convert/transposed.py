"""Provides the baking pass for transposed convolutions whose output the target would place or size differently:
Keras 1's stored `output_shape` (which the target has no parameter for) and Theano's 'same' crop (k//2 before, where
TensorFlow centres it). Such a layer becomes the full (padding='valid') transposed convolution, with output_padding
when the output reaches past it, followed by Cropping{r}D of exactly the cells MODEL's Keras dropped: the same
numbers, in standard layers. The sizes come from the engine's own rules (kstep.engine.conv), with the semantics of
the file and of the target.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, cast

from kstep.convert.annotate import Annotations
from kstep.convert.graph import call_key, fresh_name, replace_with_chain, walk
from kstep.convert.target import NotExpressible
from kstep.engine import conv as engine_conv
from kstep.ir import LayerSpec, ModelSpec, TensorRef
from kstep.kinds import ConvForm, info
from kstep.semantics import Semantics


def _placement(params: dict, sem: Semantics, n: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """(cells dropped before the output, output length) per spatial axis, as `sem` runs a transposed conv with
    `params` on `n` input cells (the engine's own functions)."""
    call = cast(Any, SimpleNamespace(params=params, sem=sem))
    lengths = engine_conv._transpose_lengths(call, n, len(n))
    return [engine_conv._transpose_before(call, n[i], lengths[i], i) for i in range(len(n))], lengths


def _spatial(shape: tuple[int, ...], data_format: str) -> tuple[int, ...]:
    return tuple(shape[2:]) if data_format == "channels_first" else tuple(shape[1:-1])


def bake_transposed(model: ModelSpec, sem: Semantics, target: Semantics, ann: Annotations, done: list[str]) -> None:
    """Every transposed convolution whose placement differs between `sem` (MODEL's) and `target` rewritten as a
    'valid' one plus an explicit crop; runs after the layout move."""
    for prefix, holder, spec in walk(model):
        record = info(spec.kind)
        if record is None or record.conv_form is not ConvForm.TRANSPOSED:
            continue
        seen = ann.of(call_key(prefix, spec, 0))
        if seen is None:
            continue
        fmt = spec.params.get("data_format") or "channels_last"
        n = _spatial(seen.in_shapes[0], seen.in_tags[0].fmt or fmt)
        before, length = _placement(spec.params, sem, n)
        as_written = {k: v for k, v in spec.params.items() if k != "output_shape"}
        if (before, length) == _placement(as_written, target, n):
            if "output_shape" in spec.params:
                spec.params.pop("output_shape")
            continue
        _rewrite(holder, spec, fmt, n, before, length, done)


def _rewrite(model: ModelSpec, spec: LayerSpec, fmt: str, n: tuple[int, ...], before: list[int],
             length: list[int], done: list[str]) -> None:
    k, s = spec.params["kernel_size"], spec.params["strides"]
    d = spec.params.get("dilation_rate") or (1,) * len(n)
    full = [(n[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 for i in range(len(n))]
    extra = [max(before[i] + length[i] - full[i], 0) for i in range(len(n))]
    if any(e >= s[i] for i, e in enumerate(extra)):
        raise NotExpressible(spec.name, f"its output reaches {extra} cells past the full transposed convolution; "
                                        "output_padding must stay below the stride")
    params = {key: v for key, v in spec.params.items() if key != "output_shape"}
    params.update(padding="valid", output_padding=tuple(extra) if any(extra) else None)
    full_name = fresh_name(model, f"{spec.name}_full")
    conv = dataclasses.replace(spec, name=full_name, params=params, calls=[])
    crop = tuple((before[i], full[i] + extra[i] - before[i] - length[i]) for i in range(len(n)))
    rank = len(n)
    crop_params: dict = {"cropping": crop}
    if rank > 1:
        crop_params["data_format"] = fmt
    crop_layer = LayerSpec(spec.name, f"Cropping{rank}D", f"Cropping{rank}D", crop_params)
    replace_with_chain(model, spec, lambda inputs, c: [(conv, inputs), (crop_layer, [TensorRef(full_name, c, 0)])])
    done.append(f"{spec.name}: transposed convolution placed as its Keras did: {full_name} ('valid'"
                f"{f', output_padding {tuple(extra)}' if any(extra) else ''}) then Cropping{rank}D {crop}")
