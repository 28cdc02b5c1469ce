"""Provides `describe`: a `ModelFile` -> the JSON-able document `kstep inspect --json` prints (schema
`kstep.inspect/1`, documented in docs/inspect-json.md), and `to_text` for the human-readable form.

Every string that came from the file passes through `errors.printable` in the text form, so a layer name can never
act as a terminal escape sequence, reorder the line (bidi controls) or crash the encoder (lone surrogates); the JSON
form keeps the exact names and is printed with `ensure_ascii`, so every non-ASCII character, those included, is a
\\uXXXX escape there.
"""

from __future__ import annotations

from typing import Any

from kstep.engine import registry
from kstep.errors import printable
from kstep.io.load import gc_paused
from kstep.ir import LayerSpec, ModelFile, ModelSpec, TensorRef
from kstep.shapes import output_shapes

SCHEMA = "kstep.inspect/1"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _layer(spec: LayerSpec, shapes: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    keys = [prefix + spec.name] if len(spec.calls) <= 1 else [f"{prefix}{spec.name}@{c}" for c in
                                                              range(len(spec.calls))]
    doc = {
        "name": spec.name,
        "class_name": spec.class_name,
        "kind": spec.kind,
        "supported": registry.supported(spec.kind) and not spec.unsupported
        and all(registry.supported(w.kind) and not w.unsupported for w in spec.wrapped),
        "params": _jsonable(spec.params),
        "weights": [{"name": w.name, "shape": list(w.shape), "stored_shapes": [list(s) for s in w.stored_shapes],
                     "dtype": w.dtype, "transform": w.transform} for w in spec.weights],
        "calls": [[{"layer": r.layer, "call": r.call, "tensor": r.tensor} for r in call.inputs]
                  for call in spec.calls],
        "output_shapes": [shapes.get(k) for k in keys],
        "trainable": spec.trainable,
        "notes": list(spec.notes),
    }
    if spec.wrapped:
        doc["wrapped"] = [_layer(w, {}) for w in spec.wrapped]
    if spec.inner is not None:
        doc["model"] = _model(spec.inner, shapes, keys[0] + "/")
        doc["supported"] = all(layer["supported"] for layer in doc["model"]["layers"])
    return doc


def _model(model: ModelSpec, shapes: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    def out_shape(r: TensorRef) -> Any:
        spec = model.layer(r.layer)
        key = prefix + (r.layer if len(spec.calls) <= 1 else f"{r.layer}@{r.call}")
        got = shapes.get(key)
        return got[r.tensor] if got and r.tensor < len(got) else None

    return {
        "name": model.name,
        "class_name": model.class_name,
        "inputs": [_io(model, r.layer) for r in model.inputs],
        "outputs": [{"layer": r.layer, "call": r.call, "tensor": r.tensor, "shape": out_shape(r)}
                    for r in model.outputs],
        "layers": [_layer(spec, shapes, prefix) for spec in model.layers if spec.kind != "InputLayer"],
    }


def _io(model: ModelSpec, name: str) -> dict[str, Any]:
    params = model.layer(name).params
    shape = params.get("batch_input_shape")
    return {"name": name, "shape": None if shape is None else list(shape), "dtype": params.get("dtype")}


def describe(mf: ModelFile) -> dict[str, Any]:
    """The `kstep.inspect/1` document of an open model file (output shapes computed when cheap, see kstep.shapes)."""
    with gc_paused():
        return _describe(mf)


def _describe(mf: ModelFile) -> dict[str, Any]:
    sem = mf.semantics
    shapes, shapes_note = output_shapes(mf)
    return {
        "schema": SCHEMA,
        "file": mf.path,
        "format": mf.format,
        "writer": {"keras_version": mf.stored_keras_version, "backend": mf.stored_backend},
        "detected": {"generation": sem.generation, "keras_version": sem.keras_version, "backend": sem.backend,
                     "evidence": list(mf.evidence)},
        "assumptions": [{"key": f.key, "value": _jsonable(f.value), "source": f.source.value, "why": f.why}
                        for f in mf.facts],
        "model": _model(mf.model, shapes),
        "shapes_note": shapes_note,
        "unsupported": unsupported_layers(mf.model),
    }


def unsupported_layers(model: ModelSpec, prefix: str = "") -> list[dict[str, Any]]:
    """Every layer kstep cannot execute, nested models' layers named OUTER/INNER, with the reason."""
    out = []
    for spec in model.layers:
        if spec.inner is not None:  # a nested model
            out.extend(unsupported_layers(spec.inner, prefix + spec.name + "/"))
        elif not registry.supported(spec.kind) or spec.unsupported or any(
                not registry.supported(w.kind) or w.unsupported for w in spec.wrapped):
            out.append({"name": prefix + spec.name, "class_name": spec.class_name, "kind": spec.kind,
                        "reason": spec.unsupported or "kstep has no implementation of this kind"})
    return out


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _params_text(params: dict[str, Any]) -> str:
    keep = []
    for k, v in params.items():
        if k in ("batch_input_shape", "input_shape", "dtype", "build_config"):
            continue
        text = repr(v) if not isinstance(v, str) else v
        if len(text) > 60:
            text = text[:57] + "..."
        keep.append(f"{k}={text}")
    return ", ".join(keep)


def to_text(doc: dict[str, Any]) -> str:
    """The human-readable inspect output (plain text, control characters made visible)."""
    lines = []
    w, d = doc["writer"], doc["detected"]
    lines.append(f"file      {doc['file']} ({doc['format']})")
    lines.append(f"writer    keras_version={w['keras_version']!r} backend={w['backend']!r} (as stored)")
    lines.append(f"detected  {d['generation']} {d['keras_version']}, backend {d['backend']}")
    for ev in d["evidence"]:
        lines.append(f"          - {ev}")
    lines.append("assumptions (override with --assume KEY=VALUE)")
    if not doc["assumptions"]:
        lines.append("          none")
    for a in doc["assumptions"]:
        lines.append(f"  {a['key']} = {a['value']}  [{a['source']}] {a['why']}")
    model = doc["model"]
    _model_text(model, lines, "")
    if doc.get("shapes_note"):
        lines.append(f"output shapes: {doc['shapes_note']}")
    if doc["unsupported"]:
        lines.append("unsupported layers (kstep cannot execute these; everything upstream still runs)")
        for u in doc["unsupported"]:
            lines.append(f"  {u['name']}  class {u['class_name']}: {u['reason']}")
    return _printable_lines(lines)


def _printable_lines(lines: list[str]) -> str:
    """`lines` joined, each made printable. One scan of the whole text when nothing needs escaping (the common
    case; one regex call per line cost ~0.05 s per 10,000 layers); else line by line (a newline inside a line
    must be escaped, the ones between lines not)."""
    body = "".join(lines)
    if printable(body) == body:
        return "\n".join(lines) + "\n"
    return "\n".join(printable(line) for line in lines) + "\n"


def _model_text(model: dict[str, Any], lines: list[str], indent: str) -> None:
    lines.append(f"{indent}model     {model['name']} ({model['class_name']})")
    for i in model["inputs"]:
        lines.append(f"{indent}  input   {i['name']} {_shape(i['shape'])} {i['dtype']}")
    for o in model["outputs"]:
        lines.append(f"{indent}  output  {o['layer']}" + (f" call {o['call']}" if o["call"] else "")
                     + (f" tensor {o['tensor']}" if o["tensor"] else "") + f" {_shape(o.get('shape'))}")
    lines.append(f"{indent}layers in config order:")
    for n, layer in enumerate(model["layers"]):
        _layer_text(layer, lines, indent + "  ", n)


def _layer_text(layer: dict[str, Any], lines: list[str], indent: str, n: int | None) -> None:
    mark = "" if layer["supported"] else "  UNSUPPORTED"
    head = f"{indent}{'' if n is None else f'{n:>3} '}{layer['name']}  {layer['class_name']}"
    if layer["kind"] != layer["class_name"]:
        head += f" -> {layer['kind']}"
    outs = [s for call in layer.get("output_shapes", []) if call for s in call]
    if outs:
        head += "  -> " + ", ".join(_shape(s) for s in outs)
    lines.append(head + mark)
    sub = indent + "      "
    params = _params_text(layer["params"])
    if params:
        lines.append(f"{sub}params: {params}")
    for wt in layer["weights"]:
        t = f" [{wt['transform']}]" if wt["transform"] else ""
        lines.append(f"{sub}weight {wt['name']} {_shape(wt['shape'])} {wt['dtype']}{t}")
    for c, call in enumerate(layer["calls"]):
        srcs = ", ".join(r["layer"] + (f"@{r['call']}" if r["call"] else "") + (f":{r['tensor']}" if r["tensor"]
                                                                                 else "") for r in call)
        lines.append(f"{sub}{'call ' + str(c) + ' ' if len(layer['calls']) > 1 else ''}<- {srcs}")
    for note in layer["notes"]:
        lines.append(f"{sub}note: {note}")
    for wrapped in layer.get("wrapped", []):
        _layer_text(wrapped, lines, sub, None)
    if "model" in layer:
        _model_text(layer["model"], lines, sub)
