"""Provides the reading of a functional model's stored graph references: one inbound node -> its input tensors and
call kwargs (`node_inputs`, `node_kwargs`), and `input_layers`/`output_layers` -> tensor references (`io_refs`).

Inbound nodes come in three forms (../shared/docs/keras-formats.md §2.3): Keras 1 `[[name, node, tensor], ...]`,
Keras 2 and tf.keras `[[name, node, tensor, kwargs], ...]` (tensors passed as call kwargs such as `value=` nest in
the kwargs), and Keras 3 `{"args": [...], "kwargs": {...}}` whose tensors are `__keras_tensor__` entries with a
`keras_history`. The references returned are as stored (node indices, not yet this model's call indices).
"""

from __future__ import annotations

from typing import Any

from kstep.io.limits import MAX_DEPTH, Fail
from kstep.ir import TensorRef


def node_inputs(node: Any, layer: str, fail: Fail) -> list[TensorRef]:
    """The input tensors of one stored inbound node of `layer`, flattened in positional order."""
    refs: list[TensorRef] = []
    if isinstance(node, dict):  # Keras 3
        _collect_k3(node.get("args", []), refs, 0, fail)
        kwargs = node.get("kwargs", {})
        if isinstance(kwargs, dict):
            for key in _kwarg_order(kwargs):
                _collect_k3(kwargs[key], refs, 0, fail)
    elif isinstance(node, list):
        _collect_legacy(node, refs, 0, fail)
    else:
        raise fail(f"layer '{layer}' has an inbound node that is not understood")
    if not refs:
        raise fail(f"layer '{layer}' has an inbound node without input tensors")
    return refs


def node_kwargs(node: Any) -> dict[str, Any]:
    """The call kwargs of one stored inbound node that are not tensors (e.g. `training=False`)."""
    if isinstance(node, dict):
        kw = node.get("kwargs", {})
        return {k: v for k, v in kw.items() if not _is_k3_tensor(v)} if isinstance(kw, dict) else {}
    kwargs = {}
    if isinstance(node, list):
        for item in node:
            if isinstance(item, list) and len(item) == 4 and isinstance(item[3], dict):
                kwargs.update({k: v for k, v in item[3].items() if not isinstance(v, list)})
    return kwargs


def io_refs(value: Any, fail: Fail) -> list[TensorRef]:
    """input_layers/output_layers: a bare triple, a list of triples, or a dict of them (Keras 3)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        raise fail("input_layers/output_layers are not understood")
    out = []
    for item in value:
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str) \
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:3]):
            out.append(TensorRef(item[0], item[1], item[2]))
        elif isinstance(item, list) and item and isinstance(item[0], str):
            raise fail(f"input_layers/output_layers entry {item!r} is not [layer, node, tensor]")
        else:
            out.extend(io_refs(item, fail))
    return out


def _collect_legacy(value: Any, refs: list[TensorRef], depth: int, fail: Fail) -> None:
    """Keras 1/2/tf.keras: every [name, node, tensor(, kwargs)] in `value`, kwargs tensors after their owner."""
    if depth > MAX_DEPTH:
        raise fail("inbound node nested too deeply")
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) \
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:3]):
        if value[0] == "_CONSTANT_VALUE":
            return
        refs.append(TensorRef(value[0], value[1], value[2]))
        if len(value) == 4 and isinstance(value[3], dict):  # tensors passed as call kwargs (value=, key=)
            for key in _kwarg_order(value[3]):
                _collect_legacy(value[3][key], refs, depth + 1, fail)
    elif isinstance(value, list):
        for item in value:
            _collect_legacy(item, refs, depth + 1, fail)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_legacy(item, refs, depth + 1, fail)


def _collect_k3(value: Any, refs: list[TensorRef], depth: int, fail: Fail) -> None:
    """Keras 3: every `__keras_tensor__` in `value` (other serialized objects are not searched)."""
    if depth > MAX_DEPTH:
        raise fail("inbound node nested too deeply")
    if _is_k3_tensor(value):
        hist = value["config"].get("keras_history")
        if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in hist[1:])):
            raise fail("a __keras_tensor__ has no valid keras_history")
        refs.append(TensorRef(hist[0], hist[1], hist[2]))
    elif isinstance(value, list):
        for item in value:
            _collect_k3(item, refs, depth + 1, fail)
    elif isinstance(value, dict) and "class_name" not in value:
        for item in value.values():
            _collect_k3(item, refs, depth + 1, fail)


def _kwarg_order(kwargs: dict[str, Any]) -> list[str]:
    """Tensor-carrying call kwargs in positional order: value, then key (MultiHeadAttention/Attention), then the
    rest by name."""
    first = [k for k in ("value", "key") if k in kwargs]
    return first + sorted(k for k in kwargs if k not in first)


def _is_k3_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__" and isinstance(
        value.get("config"), dict)
