"""Provides `parse_model`: a stored model config (Sequential or functional, any generation) -> `ModelSpec`.

Handles Sequential configs stored as a list (Keras 1, 2.0-2.2.2) or a dict (2.2.3+), with or without an explicit
InputLayer; functional configs with inbound nodes in all three forms (Keras 1 `[name, node, tensor]`, Keras 2 and
tf.keras `[name, node, tensor, kwargs]`, Keras 3 `{"args": [...], "kwargs": {...}}` with `__keras_tensor__`
entries); nested models (whose first outer call is node 1 in Keras 1/2/tf.keras); shared layers; Keras 1 Merge.
Layer params are canonicalized here (kstep.io.canon); weights are attached later (kstep.io.weights).
"""

from __future__ import annotations

from kstep.errors import BadInput
from kstep.io.canon import MODEL_CLASSES, Context, canonicalize
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef

MAX_DEPTH = 32
MAX_LAYERS = 200_000


class GraphParser:
    """Parses one file's model config; `path` names the file in errors."""

    def __init__(self, ctx: Context, path: str, layer_names: list[str] | None = None):
        self.ctx = ctx
        self.path = path
        self.layer_names = layer_names or []
        self.facts = []
        self.count = 0

    def fail(self, msg: str) -> BadInput:
        return BadInput(msg, path=self.path)

    # -- entry -------------------------------------------------------------------------------------------------
    def model(self, entry: dict, name_hint: str = "model", depth: int = 0) -> ModelSpec:
        if depth > MAX_DEPTH:
            raise self.fail(f"models nested more than {MAX_DEPTH} deep")
        if not isinstance(entry, dict):
            raise self.fail("model_config is not a JSON object")
        class_name = entry.get("class_name")
        config = entry.get("config")
        if class_name == "Sequential":
            return self.sequential(config, name_hint, depth)
        if class_name in ("Model", "Functional"):
            if not isinstance(config, dict):
                raise self.fail(f"{class_name} config is not a JSON object")
            return self.functional(config, class_name, name_hint, depth)
        raise self.fail(f"model_config has class_name {class_name!r}, expected Sequential, Model or Functional")

    # -- layers --------------------------------------------------------------------------------------------------
    def layer(self, entry, depth: int, name_hint: str | None = None) -> LayerSpec:
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
        _check_sizes(canon.params, name, self.fail, canon.kind)
        self.facts.extend(canon.facts)
        wrapped = [self.layer(inner, depth + 1) for inner in canon.inner_configs]
        return LayerSpec(name=name, class_name=class_name, kind=canon.kind, params=canon.params, wrapped=wrapped,
                         trainable=_trainable(config), notes=canon.notes, unsupported=canon.unsupported)

    # -- Sequential --------------------------------------------------------------------------------------------
    def sequential(self, config, name_hint: str, depth: int) -> ModelSpec:
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

    def input_layer(self, entry: dict) -> LayerSpec:
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

    def implicit_input(self, first, config, model_name: str) -> LayerSpec:
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

    def _make_input(self, name: str, shape, dtype) -> LayerSpec:
        if shape is not None:
            if not isinstance(shape, (list, tuple)) or not all(
                    d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31) for d in shape):
                raise self.fail(f"input '{name}' has an invalid shape {shape!r}")
            shape = tuple(shape)
            total = 1
            for d in shape[1:]:
                total *= d or 1
            if total > MAX_INPUT_ELEMENTS:
                raise self.fail(f"input '{name}' has shape {shape!r}: {total} values per sample, absurdly large")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        return LayerSpec(name=name, class_name="InputLayer", kind="InputLayer",
                         params={"batch_input_shape": shape, "dtype": dtype if isinstance(dtype, str) else "float32"})

    def merge_first_sequential(self, entries, name: str, depth: int) -> ModelSpec:
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
    def functional(self, config: dict, class_name: str, name_hint: str, depth: int) -> ModelSpec:
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
            spec.calls = [LayerCall(self.node_inputs(node, spec.name), self.node_kwargs(node))
                          for node in raw_nodes[spec.name]]
        for spec in layers:
            for call in spec.calls:
                call.inputs = [self.resolve(ref, by_name, spec.name) for ref in call.inputs]
        inputs = [self.resolve(r, by_name, "input_layers") for r in self.refs(config.get("input_layers"))]
        outputs = [self.resolve(r, by_name, "output_layers", io_ref=True)
                   for r in self.refs(config.get("output_layers"))]
        if not inputs or not outputs:
            raise self.fail(f"model '{name}' declares no input_layers or output_layers")
        return ModelSpec(name=name, class_name=class_name, layers=layers, inputs=inputs, outputs=outputs)

    def node_inputs(self, node, layer: str) -> list[TensorRef]:
        refs: list[TensorRef] = []
        if isinstance(node, dict):  # Keras 3
            self._collect_k3(node.get("args", []), refs, 0)
            kwargs = node.get("kwargs", {})
            if isinstance(kwargs, dict):
                for key in _kwarg_order(kwargs):
                    self._collect_k3(kwargs[key], refs, 0)
        elif isinstance(node, list):
            self._collect_legacy(node, refs, 0)
        else:
            raise self.fail(f"layer '{layer}' has an inbound node that is not understood")
        if not refs:
            raise self.fail(f"layer '{layer}' has an inbound node without input tensors")
        return refs

    def node_kwargs(self, node) -> dict:
        if isinstance(node, dict):
            kw = node.get("kwargs", {})
            return {k: v for k, v in kw.items() if not _is_k3_tensor(v)} if isinstance(kw, dict) else {}
        kwargs = {}
        if isinstance(node, list):
            for item in node:
                if isinstance(item, list) and len(item) == 4 and isinstance(item[3], dict):
                    kwargs.update({k: v for k, v in item[3].items() if not isinstance(v, list)})
        return kwargs

    def _collect_legacy(self, value, refs, depth):
        if depth > MAX_DEPTH:
            raise self.fail("inbound node nested too deeply")
        if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) \
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:3]):
            if value[0] == "_CONSTANT_VALUE":
                return
            refs.append(TensorRef(value[0], value[1], value[2]))
            if len(value) == 4 and isinstance(value[3], dict):  # tensors passed as call kwargs (value=, key=)
                for key in _kwarg_order(value[3]):
                    self._collect_legacy(value[3][key], refs, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self._collect_legacy(item, refs, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                self._collect_legacy(item, refs, depth + 1)

    def _collect_k3(self, value, refs, depth):
        if depth > MAX_DEPTH:
            raise self.fail("inbound node nested too deeply")
        if _is_k3_tensor(value):
            hist = value["config"].get("keras_history")
            if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in hist[1:])):
                raise self.fail("a __keras_tensor__ has no valid keras_history")
            refs.append(TensorRef(hist[0], hist[1], hist[2]))
        elif isinstance(value, list):
            for item in value:
                self._collect_k3(item, refs, depth + 1)
        elif isinstance(value, dict) and "class_name" not in value:
            for item in value.values():
                self._collect_k3(item, refs, depth + 1)

    def refs(self, value) -> list[TensorRef]:
        """input_layers/output_layers: a bare triple, a list of triples, or a dict of them (Keras 3)."""
        if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
            value = [value]
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, list):
            raise self.fail("input_layers/output_layers are not understood")
        out = []
        for item in value:
            if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str) \
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:3]):
                out.append(TensorRef(item[0], item[1], item[2]))
            elif isinstance(item, list) and item and isinstance(item[0], str):
                raise self.fail(f"input_layers/output_layers entry {item!r} is not [layer, node, tensor]")
            else:
                out.extend(self.refs(item))
        return out

    def resolve(self, ref: TensorRef, by_name: dict, where: str, io_ref: bool = False) -> TensorRef:
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
        if spec.kind == "Model" and (self.ctx.sem.generation != "keras3" or io_ref):
            call -= 1  # a nested model's own graph is its node 0 (Keras 1/2/tf.keras; Keras 3 io refs)
        if not 0 <= call < n and spec.kind == "Model" and 0 <= ref.call < n:
            call = ref.call
        if not 0 <= call < n:
            raise self.fail(f"'{where}' refers to call {ref.call} of layer '{ref.layer}', which has {n} calls")
        if ref.tensor < 0 or ref.tensor > 64:
            raise self.fail(f"'{where}' refers to output {ref.tensor} of layer '{ref.layer}'")
        return TensorRef(spec.name, call, ref.tensor)


def _kwarg_order(kwargs: dict) -> list[str]:
    """Tensor-carrying call kwargs in positional order: value, then key (MultiHeadAttention/Attention), then the
    rest by name."""
    first = [k for k in ("value", "key") if k in kwargs]
    return first + sorted(k for k in kwargs if k not in first)


def _is_k3_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__" and isinstance(
        value.get("config"), dict)


def _trainable(config) -> bool:
    return not (isinstance(config, dict) and config.get("trainable") is False)


def _unique(layers: list[LayerSpec], fail) -> None:
    seen = set()
    for spec in layers:
        if spec.name in seen:
            raise fail(f"two layers are named '{spec.name}'")
        seen.add(spec.name)


SIZE_LIMIT = 2**31
MAX_INPUT_ELEMENTS = 2**28  # values per sample of one model input (1 GiB of float32)
EXPANSION_LIMIT = 2**20  # the most one layer may multiply its input's size by (RepeatVector n, UpSampling size, ...)
EXPANDING_KEYS = ("pool_size", "kernel_size", "strides", "dilation_rate", "output_padding")


def _expansion(value, pairs: bool) -> int:
    """Product of the integers in `value` (for padding pairs: of 1 + before + after); 0 when not integers."""
    items = value if isinstance(value, (list, tuple)) else [value]
    total = 1
    for item in items:
        if pairs and isinstance(item, (list, tuple)):
            factor = 1
            for v in item:
                if not isinstance(v, int) or isinstance(v, bool):
                    return 0
                factor += abs(v)
        elif isinstance(item, int) and not isinstance(item, bool):
            factor = abs(item) + (1 if pairs else 0)
        else:
            return 0
        total *= max(factor, 1)
    return total


def _check_sizes(params: dict, name: str, fail, kind: str = "") -> None:
    """Refuse absurd sizes in a config (units=10**12, a Reshape to 10**15 elements) before anything allocates."""
    def walk(value, key):
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)) and key not in ("epsilon", "mask_value", "theta", "alpha", "scale",
                                                           "offset", "max_value", "threshold", "negative_slope",
                                                           "stddev", "rate", "momentum", "l1", "l2"):
            if isinstance(value, int) and abs(value) >= SIZE_LIMIT:
                raise fail(f"layer '{name}': {key}={value} is absurdly large")
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
    for key, value in params.items():
        walk(value, key)
    shape = params.get("target_shape")
    if isinstance(shape, (list, tuple)):
        total = 1
        for d in shape:
            if isinstance(d, int) and d > 0:
                total *= d
        if total >= SIZE_LIMIT:
            raise fail(f"layer '{name}': target_shape {tuple(shape)} has {total} elements, absurdly large")
    keys = list(EXPANDING_KEYS)
    if kind == "RepeatVector":
        keys.append("n")
    if kind.startswith("UpSampling"):
        keys.append("size")
    if kind.startswith("ZeroPadding"):
        keys.append("padding")
    for key in keys:
        if key in params:
            factor = _expansion(params[key], key == "padding")
            if factor > EXPANSION_LIMIT:
                raise fail(f"layer '{name}': {key}={params[key]!r} would multiply the data by {factor}, "
                           "absurdly large")
