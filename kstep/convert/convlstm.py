"""Provides `bake_convlstm_cf`: a ConvLSTM reading a channels_first sequence of maps, (batch, time, C, *spatial),
runs channels_last between Permutes (`--layout channels_last`; TensorFlow's CPU kernels run no channels_first
convolution). It runs before the layout move and before MODEL is annotated, so the move sees plain Permutes and
leaves the sequence (whose axis 1 is time, not channels) where it is: a Permute moves channels last, the ConvLSTM
runs channels_last on a copy of its weights (a ConvLSTM kernel (*k, in, 4 units) is layout-free), and a Permute back
to channels_first keeps the layer's name, so every reader, and the check, sees MODEL's own tensor.
"""

from __future__ import annotations

import dataclasses

from kstep.convert.graph import fresh_name, new_layer, replace_with_chain, walk
from kstep.convert.target import NotExpressible
from kstep.ir import LayerSpec, ModelSpec, TensorRef


def bake_convlstm_cf(model: ModelSpec, done: list[str]) -> None:
    """Every channels_first ConvLSTM1D/2D/3D of `model` (nested models too) run channels_last between Permutes."""
    for _, holder, spec in walk(model):
        if not spec.kind.startswith("ConvLSTM") or spec.params.get("data_format") != "channels_first":
            continue
        if spec.params.get("return_state") or any(len(c.inputs) != 1 for c in spec.calls):
            raise NotExpressible(spec.name, "kstep moves a channels_first ConvLSTM only when it takes one tensor and "
                                            "returns one", "use --layout keep")
        k = int(spec.kind[len("ConvLSTM")])
        _run_channels_last(holder, spec, k)
        done.append(f"{spec.name}: {spec.kind} run channels_last between Permutes (time stays axis 1); the Permute "
                    "back to channels_first keeps its name")


def _run_channels_last(model: ModelSpec, spec: LayerSpec, k: int) -> None:
    """Permute (time, C, *spatial) -> (time, *spatial, C), the channels_last copy, and the Permute back (from
    (time, *spatial, F) with return_sequences, else from (*spatial, F)) under `spec`'s name."""
    taken = frozenset({spec.name})
    before = new_layer(model, f"{spec.name}_to_channels_last", "Permute", {"dims": (1, *range(3, k + 3), 2)},
                       taken=taken)
    core = dataclasses.replace(spec, params={**spec.params, "data_format": "channels_last"}, calls=[])
    core.name = fresh_name(model, f"{spec.name}_channels_last", taken | {before.name})
    back = (1, k + 2, *range(2, k + 2)) if spec.params.get("return_sequences") else (k + 1, *range(1, k + 1))
    after = LayerSpec(name=spec.name, class_name="Permute", kind="Permute", params={"dims": back})

    def build(inputs: list[TensorRef], c: int) -> list[tuple[LayerSpec, list[TensorRef]]]:
        return [(before, inputs), (core, [TensorRef(before.name, c, 0)]), (after, [TensorRef(core.name, c, 0)])]

    replace_with_chain(model, spec, build)
