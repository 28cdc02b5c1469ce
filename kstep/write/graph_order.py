"""Provides `graph_order`: a functional model's layers in the order tf.keras 2 and Keras 3 list them in
`model.layers`, which is the order both save them in and the order both match weights to layers by (tf_keras pairs
`layer_names` with `model.layers` by position; Keras 3 names each layer's weights group by class and count in that
order).

Both rebuild that order from the graph, not from the config's list (`map_graph` in keras/src/ops/function.py,
`_map_graph_network` in tf_keras/src/engine/functional.py, the same algorithm): a depth-first walk from the outputs
numbers each layer when first reached; each call's depth is the longest path to an output; layers are listed by
decreasing depth, ties by that number; inputs the walk never reached come last with depth 0. Iterative here, so a
deep model does not hit Python's recursion limit.
"""

from __future__ import annotations

from kstep.ir import LayerSpec, ModelSpec

Node = tuple[str, int]
"""One call of a layer: (layer name, call index in its model)."""


def _parents(spec: LayerSpec, call: int) -> list[Node]:
    if spec.kind == "InputLayer" or call >= len(spec.calls):
        return []
    return [(ref.layer, ref.call) for ref in spec.calls[call].inputs]


def graph_order(model: ModelSpec) -> list[LayerSpec]:
    """`model.layers` as tf.keras 2 / Keras 3 order them after loading the model's functional config."""
    by_name = {spec.name: spec for spec in model.layers}
    inputs = {(ref.layer, ref.call) for ref in model.inputs}
    finished: set[Node] = set()
    post_order: list[Node] = []
    first_seen: dict[str, int] = {}
    stack: list[tuple[Node, bool]] = [((ref.layer, ref.call), False) for ref in reversed(model.outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            if node not in finished:
                finished.add(node)
                post_order.append(node)
            continue
        if node in finished:
            continue
        first_seen.setdefault(node[0], len(first_seen))
        stack.append((node, True))
        if node not in inputs:
            parents = _parents(by_name[node[0]], node[1])
            stack.extend((p, False) for p in reversed(parents) if p not in finished)
    node_depth: dict[Node, int] = {}
    layer_depth: dict[str, int] = {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node[0], 0))
        layer_depth[node[0]] = depth
        node_depth[node] = depth
        for parent in _parents(by_name[node[0]], node[1]) if node not in inputs else []:
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for ref in model.inputs:
        if ref.layer not in layer_depth:
            layer_depth[ref.layer] = 0
            first_seen[ref.layer] = -1
    names = sorted(layer_depth, key=lambda n: (-layer_depth[n], first_seen[n]))
    return [by_name[n] for n in names]

