"""Provides `execution_order`: the calls of a model in Kahn topological order, ties broken by config position.

A cycle or a reference to a call that cannot run is a BadInput: a model file is data and may be hostile.
"""

from __future__ import annotations

import heapq

from kstep.errors import BadInput
from kstep.ir import ModelSpec


def execution_order(model: ModelSpec, path: str | None = None) -> list[tuple[str, int]]:
    """[(layer name, call index), ...] so that every call comes after the calls that produce its inputs."""
    for spec in model.layers:
        if spec.inner is not None:  # a nested model's own graph: a cycle there is the file's fault too
            execution_order(spec.inner, path)
    position = {spec.name: i for i, spec in enumerate(model.layers)}
    nodes: list[tuple[str, int]] = []
    deps: dict[tuple[str, int], set] = {}
    for spec in model.layers:
        if spec.kind == "InputLayer":
            continue
        for c, call in enumerate(spec.calls):
            node = (spec.name, c)
            nodes.append(node)
            deps[node] = {(r.layer, r.call) for r in call.inputs if model.layer(r.layer).kind != "InputLayer"}
    users: dict[tuple[str, int], list] = {n: [] for n in nodes}
    indeg = {}
    for node, ds in deps.items():
        indeg[node] = len(ds)
        for d in ds:
            if d not in users:
                raise BadInput(f"layer '{node[0]}' uses call {d[1]} of '{d[0]}', which does not exist", path=path)
            users[d].append(node)
    ready = [(position[n[0]], n[1], n) for n in nodes if indeg[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for user in users[node]:
            indeg[user] -= 1
            if indeg[user] == 0:
                heapq.heappush(ready, (position[user[0]], user[1], user))
    if len(order) != len(nodes):
        stuck = sorted((n for n in nodes if indeg[n] > 0), key=lambda n: position[n[0]])
        raise BadInput(f"the layer graph has a cycle (through layer '{stuck[0][0]}')", path=path)
    return order
