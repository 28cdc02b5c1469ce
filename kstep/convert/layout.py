"""Provides the baking pass that moves an image model to channels_last (`--layout channels_last`, the default:
TensorFlow runs no channels_first convolution on CPU). Every layout-dependent part moves with the data:

- an input read as a channels_first feature map is declared (and fed) channels_last;
- layers with a `data_format` (convolutions, pools, padding, cropping, upsampling, spatial dropout) switch to
  channels_last; their canonical kernels (spatial..., in, out) are layout-free and stay as they are;
- axis parameters (BatchNormalization, Concatenate, Softmax, the other normalizations, Dot) are mapped through the
  layout; PReLU's alpha is transposed and its shared axes mapped;
- a Flatten that flattened in (channels, rows, cols) order keeps that meaning by reordering the rows of the Dense
  (and the statistics of the BatchNormalization) that read it; when something else reads it, a Permute back to
  channels_first goes before the Flatten instead;
- any other layer that reads a feature map as a plain tensor (Reshape, Permute, Dense on a map, ...) gets a Permute
  back to channels_first before it, so it reads exactly what it read before.
Layers kstep cannot move exactly (locally connected layers and wrappers over channels_first maps, ConvLSTM) are
refused by name; `--layout keep` leaves the model as it was. A layer declared channels_first that reads something
else than a moved map (e.g. a Conv1D reading a sequence input's steps as channels) is run channels_last between
Permutes (`bake_cf_leftovers`), so TensorFlow's CPU kernels can run it.
"""

from __future__ import annotations

import dataclasses

from kstep.compare.layout import PLAIN, Tag, axis_to_new, dense_rows_to_old, image
from kstep.convert.annotate import Annotations
from kstep.convert.graph import (
    call_key,
    derived,
    fresh_name,
    insert_before,
    new_layer,
    replace_with_chain,
    swap_weights,
    walk,
)
from kstep.convert.target import NotExpressible
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef
from kstep.kinds import ConvForm, Family, info

CF, CL = image("channels_first"), image("channels_last")
_AXIS_KINDS = {"BatchNormalization": "axis", "LayerNormalization": "axis", "UnitNormalization": "axis",
               "GroupNormalization": "axis", "Softmax": "axis", "Concatenate": "axis", "Normalization": "axis"}
_PASS_FLAT = frozenset({"Dropout", "Activation", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                        "ActivityRegularization", "Identity"})


def _to_last(shape) -> list:
    """A batch-first channels_first shape in channels_last order."""
    shape = list(shape)
    return [shape[0], *shape[2:], shape[1]]


def _permute_to_first(model: ModelSpec, before: LayerSpec, rank: int, done: list[str]) -> None:
    """Insert Permute(channels_last -> channels_first) before `before` (whose input has `rank` axes, batch too)."""
    if any(len(c.inputs) != 1 for c in before.calls):
        raise NotExpressible(before.name, "it reads a channels_first feature map among several inputs and its "
                                          "meaning is tied to that axis order", "use --layout keep")
    k = rank - 2
    layer = new_layer(model, f"{before.name}_to_channels_first", "Permute", {"dims": (k + 1, *range(1, k + 1))})
    insert_before(model, before, layer)
    done.append(f"{layer.name}: Permute back to channels_first before {before.name}, which reads the feature map "
                "as a plain tensor")


def _map_axis(value, rank: int):
    if isinstance(value, (list, tuple)):
        return type(value)(axis_to_new(int(a), rank, CF, CL) for a in value)
    return axis_to_new(int(value), rank, CF, CL)


def _reads_cf(tags) -> bool:
    return any(t.kind == "image" and t.fmt == "channels_first" for t in tags)


def _flat_readers(model: ModelSpec, ann: Annotations, prefix: str, flatten: LayerSpec) -> list[LayerSpec] | None:
    """The Dense/BatchNormalization layers that read `flatten`'s output (through dropout/activation layers), or None
    when anything else reads it (or it is a model output)."""
    found: list[LayerSpec] = []
    frontier = [flatten.name]
    outputs = {r.layer for r in model.outputs}
    while frontier:
        name = frontier.pop()
        if name in outputs:
            return None
        for spec in model.layers:
            if not any(r.layer == name for c in spec.calls for r in c.inputs):
                continue
            if spec.kind in ("Dense", "BatchNormalization") and len(spec.calls) == 1:
                found.append(spec)
            elif spec.kind in _PASS_FLAT and len(spec.calls) == 1:
                frontier.append(spec.name)
            else:
                return None
    return found


def _reorder_rows(spec: LayerSpec, tag: Tag, done: list[str]) -> None:
    """Rows of `spec`'s weights that index a (c, h, w)-ordered flat vector reordered for an (h, w, c)-ordered one."""
    hwc = Tag("flat", order="hwc", spatial=tag.spatial, channels=tag.channels)
    chw = Tag("flat", order="chw", spatial=tag.spatial, channels=tag.channels)
    which = spec.weights[:1] if spec.kind == "Dense" else spec.weights
    for ref in which:
        new = derived(ref, lambda a: dense_rows_to_old(a, hwc, chw), ref.shape,
                      "rows reordered from (c, h, w) to (h, w, c) flatten order")
        swap_weights(spec, ref, new)
    done.append(f"reordered the rows of {spec.name}'s {'kernel' if spec.kind == 'Dense' else 'statistics'} from "
                f"(channels, rows, cols) to (rows, cols, channels) flatten order")


def _move_inputs(model: ModelSpec, ann: Annotations, done: list[str]) -> None:
    for name, tag in ann.input_tags.items():
        if tag != CF:
            continue
        for spec in model.layers:
            reads = spec.name == name or any(r.layer == name for c in spec.calls for r in c.inputs)
            shape = spec.params.get("batch_input_shape")
            if reads and shape and len(shape) >= 3:
                spec.params["batch_input_shape"] = _to_last(shape)
        done.append(f"input {name} is fed channels_last: {tuple(_to_last(ann.input_shapes[name]))} "
                    f"(was {tuple(ann.input_shapes[name])})")


def _move_nested_inputs(spec: LayerSpec, tags) -> None:
    inner = spec.inner
    if inner is None:
        return
    for ref, tag in zip(inner.inputs, tags):
        if tag == CF:
            params = inner.layer(ref.layer).params
            if params.get("batch_input_shape"):
                params["batch_input_shape"] = _to_last(params["batch_input_shape"])


def bake_layout(model: ModelSpec, ann: Annotations, done: list[str]) -> None:
    """Move every channels_first feature map of `model` to channels_last (see the module docstring)."""
    _move_inputs(model, ann, done)
    moved: list[str] = []
    for prefix, holder, spec in walk(model):
        seen = [ann.of(call_key(prefix, spec, c)) for c in range(len(spec.calls))]
        seen_calls = [s for s in seen if s is not None]
        if not seen_calls or not any(_reads_cf(s.in_tags) for s in seen_calls):
            continue
        if any(s.in_tags != seen_calls[0].in_tags for s in seen_calls):
            raise NotExpressible(spec.name, "its calls read tensors in different layouts")
        first = seen_calls[0]
        rank = len(first.in_shapes[0])
        record = info(spec.kind)
        if spec.kind == "Model":
            _move_nested_inputs(spec, first.in_tags)
        elif record is not None and record.conv_form is ConvForm.LOCAL:
            _island(holder, spec, rank, first.out_shapes[0], done)
        elif spec.wrapped or (record is not None and record.family is Family.RECURRENT):
            raise NotExpressible(spec.name, f"kstep does not move a {spec.kind} over a channels_first feature map",
                                 "use --layout keep")
        elif spec.kind == "Flatten":
            readers = _flat_readers(holder, ann, prefix, spec) if first.out_tags[0].order == "chw" else []
            if readers is None:
                _permute_to_first(holder, spec, rank, done)
                spec.params["data_format"] = "channels_last"
            else:
                spec.params["data_format"] = "channels_last"
                for reader in readers:
                    _reorder_rows(reader, first.out_tags[0], done)
        elif spec.params.get("data_format") == "channels_first":
            spec.params["data_format"] = "channels_last"
            if spec.params.get("output_shape") and len(spec.params["output_shape"]) >= 3:  # Keras 1 Deconvolution
                spec.params["output_shape"] = _to_last(spec.params["output_shape"])
            moved.append(spec.name)
        elif spec.kind in _AXIS_KINDS:
            key = _AXIS_KINDS[spec.kind]
            old = spec.params.get(key, -1)
            spec.params[key] = _map_axis(old, rank)
            done.append(f"{spec.name}: {key} {old} -> {spec.params[key]} (channels_last)")
        elif spec.kind == "Dot":
            spec.params["axes"] = _map_axis(spec.params.get("axes", -1), rank)
        elif spec.kind == "PReLU":
            _move_prelu(spec, rank, done)
        elif record is not None and record.keeps_layout and not any(t == PLAIN for t in first.in_tags):
            continue  # elementwise: reads every input in the same layout
        else:
            _permute_to_first(holder, spec, rank, done)
    if moved:
        done.append(f"data_format channels_first -> channels_last on {len(moved)} layer(s): {', '.join(moved[:8])}"
                    + (", ..." if len(moved) > 8 else ""))


def _island(model: ModelSpec, spec: LayerSpec, rank: int, out_shape: tuple[int, ...], done: list[str]) -> None:
    """Keep `spec` channels_first (its kernel rows follow that order) between a Permute to channels_first before it
    and one back to channels_last after it; everything else reads the moved layout. `spec` keeps its name (its
    output is compared with MODEL's in the same layout)."""
    _permute_to_first(model, spec, rank, done)
    k = len(out_shape) - 2
    after = _permute_after(model, spec, f"{spec.name}_to_channels_last", (*range(2, k + 2), 1))
    done.append(f"{spec.name}: kept channels_first (a locally connected kernel's rows follow that order) between "
                f"Permutes; {after.name} moves its output back to channels_last")


def _permute_after(model: ModelSpec, spec: LayerSpec, name: str, dims: tuple[int, ...]) -> LayerSpec:
    """A Permute(`dims`) on every output of `spec`, read by everything that read `spec` (and the model's outputs)."""
    after = new_layer(model, name, "Permute", {"dims": dims})
    for other in model.layers:
        for call in other.calls:
            call.inputs = [TensorRef(after.name, r.call, r.tensor) if r.layer == spec.name else r
                           for r in call.inputs]
    model.outputs = [TensorRef(after.name, r.call, r.tensor) if r.layer == spec.name else r for r in model.outputs]
    after.calls = [LayerCall([TensorRef(spec.name, c, 0)]) for c in range(len(spec.calls))]
    model.layers.insert(model.layers.index(spec) + 1, after)
    return after


def _move_prelu(spec: LayerSpec, rank: int, done: list[str]) -> None:
    """PReLU over a channels_first map: alpha (C, spatial...) -> (spatial..., C), shared axes mapped."""
    ref = spec.weights[0]
    shape = (*ref.shape[1:], ref.shape[0])
    swap_weights(spec, ref, derived(ref, lambda a: a.transpose(*range(1, a.ndim), 0), shape,
                                    "alpha moved to channels_last"))
    shared = spec.params.get("shared_axes")
    if shared:
        spec.params["shared_axes"] = [axis_to_new(int(a), rank, CF, CL) for a in shared]
    done.append(f"{spec.name}: PReLU alpha moved to channels_last")



_LEFTOVER_SKIP = frozenset({"Flatten"})


def bake_cf_leftovers(model: ModelSpec, done: list[str]) -> None:
    """Every layer still declared channels_first after the move (it read a tensor that was not a channels_first map,
    so nothing moved it) runs channels_last between a Permute to channels_last before it and one back after it (a
    global pool's output has no spatial axis: no Permute after). Its canonical kernel is layout-free, so it computes
    exactly what it did; locally connected and recurrent layers are left to the target (their weights or steps follow
    the order)."""
    for _, holder, spec in walk(model):
        record = info(spec.kind)
        if (spec.params.get("data_format") != "channels_first" or spec.kind in _LEFTOVER_SKIP or record is None
                or record.conv_form is ConvForm.LOCAL or record.family is Family.RECURRENT or spec.wrapped):
            continue
        k = next((int(d) for d in ("1", "2", "3") if spec.kind.endswith(f"{d}D")), None)
        if k is None:
            continue
        if any(len(c.inputs) != 1 for c in spec.calls):
            raise NotExpressible(spec.name, "it reads several inputs channels_first", "use --layout keep")
        source = spec.calls[0].inputs[0].layer
        _between_permutes(holder, spec, k)
        done.append(f"{spec.name}: run channels_last between Permutes, the last one keeps its name (it reads "
                    f"{source}'s axis 1 as channels; TensorFlow's CPU kernels run no channels_first {spec.kind})")


def _between_permutes(model: ModelSpec, spec: LayerSpec, k: int) -> None:
    """Replace channels_first `spec` (k spatial axes, one input per call) by a Permute moving channels last -> a
    channels_last copy of it -> the inverse Permute under `spec`'s name (its output is MODEL's, in MODEL's layout;
    a global pool's output needs no Permute back: the copy keeps the name)."""
    last, first = (*range(2, k + 2), 1), (k + 1, *range(1, k + 1))
    keep_name = spec.kind.startswith("Global")
    taken = frozenset({spec.name})
    before = new_layer(model, f"{spec.name}_to_channels_last", "Permute", {"dims": last}, taken=taken)
    core = dataclasses.replace(spec, params={**spec.params, "data_format": "channels_last"}, calls=[])
    if not keep_name:
        core.name = fresh_name(model, f"{spec.name}_channels_last", taken | {before.name})
    after = LayerSpec(name=spec.name, class_name="Permute", kind="Permute", params={"dims": first})
    chain = [before, core] if keep_name else [before, core, after]

    def build(inputs: list[TensorRef], c: int) -> list[tuple[LayerSpec, list[TensorRef]]]:
        links: list[tuple[LayerSpec, list[TensorRef]]] = [(before, inputs)]
        for prev, layer in zip(chain, chain[1:]):
            links.append((layer, [TensorRef(prev.name, c, 0)]))
        return links

    replace_with_chain(model, spec, build)
