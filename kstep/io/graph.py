"""Provides `GraphParser`: a stored model config (Sequential or functional, any generation) -> `ModelSpec`, via
`GraphParser(ctx, path, layer_names).model(config)`.

Handles Sequential configs stored as a list (Keras 1, 2.0-2.2.2) or a dict (2.2.3+), with or without an explicit
InputLayer, and Keras 1's Sequential whose first layer is a Merge of branch Sequentials; functional configs with
inbound nodes in all three forms (read by kstep.io.nodes); nested models (whose first outer call is node 1 in Keras
1/2/tf.keras, `Semantics.nested_model_inbound_offset`); shared layers. Layer params are canonicalized here
(kstep.io.canon) and size-checked (kstep.io.limits); weights are attached later (kstep.io.weights).
"""

from __future__ import annotations

from typing import Any

from kstep.errors import BadInput
from kstep.io.canon import canonicalize
from kstep.io.context import Context
from kstep.io.limits import MAX_DEPTH, MAX_LAYERS, Fail, check_input_shape, check_sizes
from kstep.io.nodes import io_refs, node_inputs, node_kwargs
from kstep.ir import Fact, LayerCall, LayerSpec, ModelSpec, TensorRef
from kstep.kinds import MODEL_CLASSES


class GraphParser:
    """Parses one file's model config; `path` names the file in errors."""

    def __init__(self, ctx: Context, path: str, layer_names: list[str] | None = None) -> None:
        self.ctx = ctx
        self.path = path
        self.layer_names = layer_names or []
        self.facts: list[Fact] = []
        self.count = 0

    def fail(self, msg: str) -> BadInput:
        """The error to raise for `msg`, naming the file."""
        return BadInput(msg, path=self.path)

    # -- entry -------------------------------------------------------------------------------------------------
    def model(self, entry: Any, name_hint: str = "model", depth: int = 0) -> ModelSpec:
        """A `{class_name, config}` model entry (the top-level model_config or a nested model) -> ModelSpec."""
        if depth > MAX_DEPTH:
            raise self.fail(f"models nested more than {MAX_DEPTH} deep")
        if not isinstance(entry, dict):
            raise self.fail("model_config is not a JSON object")
        class_name = entry.get("class_name")
        config = entry.get("config")
        if class_name == "Sequential":
            return self.sequential(config, name_hint, depth)
        if class_name in MODEL_CLASSES:  # Model, Functional
            if not isinstance(config, dict):
                raise self.fail(f"{class_name} config is not a JSON object")
            return self.functional(config, class_name, name_hint, depth)
        raise self.fail(f"model_config has class_name {class_name!r}, expected Sequential, Model or Functional")

    # -- layers --------------------------------------------------------------------------------------------------
    def layer(self, entry: Any, depth: int, name_hint: str | None = None) -> LayerSpec:
        """One layer entry -> LayerSpec (canonical kind and params, nested model or wrapped layers; no calls)."""
        self.count += 1
        if self.count > MAX_LAYERS:
            raise self.fail(f"more than {MAX_LAYERS} layers")
        if not isinstance(entry, dict):
            raise self.fail("a layer entry is not a JSON object")
        class_name = entry.get("class_name")
        config = entry.get("config")
        if not isinstance(class_name, str) or not class_name:
            raise self.fail("a layer entry has no class_name")
        if class_name in MODEL_CLASSES:
            cfg_name = config.get("name") if isinstance(config, dict) else None
            name = entry.get("name") or cfg_name or name_hint or f"model_{self.count}"
            inner = self.model({"class_name": class_name, "config": config}, str(name), depth + 1)
            return LayerSpec(name=str(name), class_name=class_name, kind="Model", params={}, inner=inner,
                             trainable=_trainable(config))
        if not isinstance(config, dict):
            raise self.fail(f"layer of class {class_name} has no config object")
        name = entry.get("name") or config.get("name") or name_hint
        if not isinstance(name, str) or not name:
            raise self.fail(f"a layer of class {class_name} has no name")
        config = dict(config, name=name)
        try:
            canon = canonicalize(class_name, config, self.ctx)
        except (ValueError, TypeError) as exc:
            raise self.fail(f"layer '{name}' ({class_name}): {exc}") from None
        check_sizes(canon.params, name, self.fail, canon.kind)
        self.facts.extend(canon.facts)
        wrapped = [self.layer(inner, depth + 1) for inner in canon.inner_configs]
        return LayerSpec(name=name, class_name=class_name, kind=canon.kind, params=canon.params, wrapped=wrapped,
                         trainable=_trainable(config), notes=canon.notes, unsupported=canon.unsupported)

    # -- Sequential --------------------------------------------------------------------------------------------
    def sequential(self, config: Any, name_hint: str, depth: int) -> ModelSpec:
        """A Sequential config (list or {name, layers}) -> a chain of calls from its (explicit or implicit) input."""
        if isinstance(config, list):
            entries, name = config, name_hint
        elif isinstance(config, dict) and isinstance(config.get("layers"), list):
            entries, name = config["layers"], str(config.get("name") or name_hint)
        else:
            raise self.fail("Sequential config is neither a list of layers nor an object with 'layers'")
        if not entries:
            raise self.fail(f"Sequential model '{name}' has no layers")
        names = self.layer_names if depth == 0 else []
        layers: list[LayerSpec] = []
        first = entries[0]
        if isinstance(first, dict) and first.get("class_name") == "InputLayer":
            inp = self.input_layer(first)
            entries = entries[1:]
        elif isinstance(first, dict) and first.get("class_name") == "Merge" and isinstance(
                (first.get("config") or {}).get("layers"), list):
            return self.merge_first_sequential(entries, name, depth)
        else:
            inp = self.implicit_input(first, config, name)
        layers.append(inp)
        prev = TensorRef(inp.name)
        for i, entry in enumerate(entries):
            # Keras 1 nested Sequentials have no name in the config: layer_names gives it by position
            hint = names[i] if i < len(names) else None
            spec = self.layer(entry, depth, name_hint=hint)
            spec.calls = [LayerCall([prev])]
            layers.append(spec)
            prev = TensorRef(spec.name)
        _unique(layers, self.fail)
        return ModelSpec(name=name, class_name="Sequential", layers=layers, inputs=[TensorRef(inp.name)],
                         outputs=[prev])

    def input_layer(self, entry: dict[str, Any]) -> LayerSpec:
        """A stored InputLayer entry (batch_input_shape, Keras 3 batch_shape or shape) -> LayerSpec."""
        config = entry.get("config")
        if not isinstance(config, dict):
            raise self.fail("InputLayer has no config")
        name = entry.get("name") or config.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail("an InputLayer has no name")
        shape = config.get("batch_input_shape", config.get("batch_shape"))
        if shape is None and isinstance(config.get("shape"), list):
            shape = [None] + list(config["shape"])
        return self._make_input(name, shape, config.get("dtype", config.get("input_dtype")))

    def implicit_input(self, first: Any, config: Any, model_name: str) -> LayerSpec:
        """The input a Sequential without an InputLayer gets, from its first layer's (or build) input shape."""
        cfg = first.get("config") if isinstance(first, dict) else None
        shape = None
        if isinstance(cfg, dict):
            shape = cfg.get("batch_input_shape")
            if shape is None and isinstance(cfg.get("input_shape"), list):
                shape = [None] + list(cfg["input_shape"])
            if shape is None and cfg.get("input_dim") is not None:
                shape = [None, cfg["input_dim"]] if cfg.get("input_length") is None else [
                    None, cfg["input_length"], cfg["input_dim"]]
        if isinstance(first, dict) and first.get("class_name") in MODEL_CLASSES:
            inner = first.get("config")
            inner_layers = inner if isinstance(inner, list) else (inner or {}).get("layers", [])
            if inner_layers:
                return self.implicit_input(inner_layers[0], inner, model_name)
        if shape is None and isinstance(config, dict) and isinstance(config.get("build_input_shape"), list):
            shape = config["build_input_shape"]
        first_name = (cfg or {}).get("name", model_name) if isinstance(cfg, dict) else model_name
        dtype = (cfg or {}).get("dtype", (cfg or {}).get("input_dtype")) if isinstance(cfg, dict) else None
        return self._make_input(f"{first_name}_input", shape, dtype)

    def _make_input(self, name: str, shape: Any, dtype: Any) -> LayerSpec:
        shape = check_input_shape(name, shape, self.fail)
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        return LayerSpec(name=name, class_name="InputLayer", kind="InputLayer",
                         params={"batch_input_shape": shape, "dtype": dtype if isinstance(dtype, str) else "float32"})

    def merge_first_sequential(self, entries: list[Any], name: str, depth: int) -> ModelSpec:
        """Keras 1: a Sequential whose first layer is a Merge of branch Sequentials; branches are spliced in."""
        merge_entry = entries[0]
        branches = merge_entry["config"]["layers"]
        layers: list[LayerSpec] = []
        inputs: list[TensorRef] = []
        branch_outs: list[TensorRef] = []
        for b, branch in enumerate(branches):
            sub = self.model(branch if "class_name" in branch else {"class_name": "Sequential", "config": branch},
                             f"{name}_branch_{b}", depth + 1)
            layers.extend(sub.layers)
            inputs.extend(sub.inputs)
            branch_outs.extend(sub.outputs)
        mcfg = dict(merge_entry["config"])
        mcfg.pop("layers")
        merge = self.layer({"class_name": "Merge", "config": mcfg}, depth)
        merge.calls = [LayerCall(branch_outs)]
        layers.append(merge)
        prev = TensorRef(merge.name)
        for entry in entries[1:]:
            spec = self.layer(entry, depth)
            spec.calls = [LayerCall([prev])]
            layers.append(spec)
            prev = TensorRef(spec.name)
        _unique(layers, self.fail)
        return ModelSpec(name=name, class_name="Sequential", layers=layers, inputs=inputs, outputs=[prev])

    # -- functional --------------------------------------------------------------------------------------------
    def functional(self, config: dict[str, Any], class_name: str, name_hint: str, depth: int) -> ModelSpec:
        """A functional config -> layers with their calls resolved to this model's call indices."""
        entries = config.get("layers")
        if not isinstance(entries, list) or not entries:
            raise self.fail(f"{class_name} config has no layers")
        name = str(config.get("name") or name_hint)
        layers: list[LayerSpec] = []
        raw_nodes: dict[str, list] = {}
        for entry in entries:
            if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
                spec = self.input_layer(entry)
            else:
                spec = self.layer(entry, depth)
            layers.append(spec)
            nodes = entry.get("inbound_nodes", []) if isinstance(entry, dict) else []
            if not isinstance(nodes, list):
                raise self.fail(f"layer '{spec.name}' has inbound_nodes that are not a list")
            raw_nodes[spec.name] = nodes
        _unique(layers, self.fail)
        by_name = {spec.name: spec for spec in layers}
        for spec in layers:
            if spec.kind == "InputLayer":
                continue
            spec.calls = [LayerCall(node_inputs(node, spec.name, self.fail), node_kwargs(node))
                          for node in raw_nodes[spec.name]]
        for spec in layers:
            for call in spec.calls:
                call.inputs = [self.resolve(ref, by_name, spec.name) for ref in call.inputs]
        inputs = [self.resolve(r, by_name, "input_layers") for r in io_refs(config.get("input_layers"), self.fail)]
        outputs = [self.resolve(r, by_name, "output_layers", io_ref=True)
                   for r in io_refs(config.get("output_layers"), self.fail)]
        if not inputs or not outputs:
            raise self.fail(f"model '{name}' declares no input_layers or output_layers")
        return ModelSpec(name=name, class_name=class_name, layers=layers, inputs=inputs, outputs=outputs)

    def resolve(self, ref: TensorRef, by_name: dict[str, LayerSpec], where: str, io_ref: bool = False) -> TensorRef:
        """Turn a stored (layer, node_index, tensor_index) into (layer, call index in this model, tensor)."""
        spec = by_name.get(ref.layer)
        if spec is None:
            raise self.fail(f"'{where}' refers to a layer '{ref.layer}' that the model does not have")
        if spec.kind == "InputLayer":
            if ref.call != 0 or ref.tensor != 0:
                raise self.fail(f"'{where}' refers to input '{ref.layer}' node {ref.call}, tensor {ref.tensor}")
            return TensorRef(spec.name, 0, 0)
        call = ref.call
        n = len(spec.calls)
        if spec.kind == "Model" and (self.ctx.sem.nested_model_inbound_offset or io_ref):
            call -= 1  # a nested model's own graph is its node 0 (Keras 1/2/tf.keras; Keras 3 io refs)
        if not 0 <= call < n and spec.kind == "Model" and 0 <= ref.call < n:
            call = ref.call
        if not 0 <= call < n:
            raise self.fail(f"'{where}' refers to call {ref.call} of layer '{ref.layer}', which has {n} calls")
        if ref.tensor < 0 or ref.tensor > 64:
            raise self.fail(f"'{where}' refers to output {ref.tensor} of layer '{ref.layer}'")
        return TensorRef(spec.name, call, ref.tensor)


def _trainable(config: Any) -> bool:
    return not (isinstance(config, dict) and config.get("trainable") is False)


def _unique(layers: list[LayerSpec], fail: Fail) -> None:
    seen = set()
    for spec in layers:
        if spec.name in seen:
            raise fail(f"two layers are named '{spec.name}'")
        seen.add(spec.name)
