"""Provides `attach_tf_keras`: the weights of a `.keras` archive (or a `.weights.h5`) written by tf.keras 2.12-2.15
or tf_keras 2.16+, matched to the config's layers by the object-tree order those versions saved them in.

Their saving_lib (keras/src/saving/saving_lib.py, `_save_state`) walks the model: each Keras object's own variables
go to `<inner path>/vars/0..n-1` (`_trainable_weights + _non_trainable_weights`); its attributes are walked in `dir()`
order (2.12-2.14) or reversed (2.15); a list or dict attribute names each layer in it by its *class*:
`to_snake_case(class)`, then `_1`, `_2`... per class in container order (`_save_container_state`). So a layer's
group says nothing about its name (`conv2d_1` may hold the layer named `conv2d_3`).

* The container of a model's layers is `_layer_checkpoint_dependencies` in 2.12-2.14 (an ordered dict that lists a
  layer with weights twice, as `layer_with_weights-k` and `layer-i`) and `layers` from 2.15 on.
* 2.12-2.13 count the repeated entry before noticing it was saved (the second Conv2D with weights is `conv2d_2`);
  2.14 on skip it first (`conv2d_1`): `Semantics.zip_counts_repeated_layers`.
* The joins are `tf.io.gfile.join` = `os.path.join`: saved on Windows, every object's path is one root-level name
  with backslashes (`layers\\conv2d`, its child `vars`). Both forms are read as one logical tree.

Every variable under the layers' container must belong to a layer of the config, and each layer's variables must
be numbered 0..n-1; anything else is one BadInput (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

import h5py

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.weights import Stored, assign
from kstep.ir import Fact, ModelSpec, Source
from kstep.semantics import Semantics

MAX_DEPTH = 256  # logical path components (nested models and wrappers nest a few per level)
# sub-objects of one layer in kstep's canonical weight order (the rest follow, sorted by name and number);
# MultiHeadAttention's are q, k, v, out: `_query_dense`.. in tf.keras 2, `query_dense`.. in Keras 3.15
SUB_ORDER = ("cell", "forward_layer", "backward_layer", "layer", "_query_dense", "_key_dense", "_value_dense",
             "_output_dense", "query_dense", "key_dense", "value_dense", "output_dense")

Path = tuple[str, ...]


class Container(str, Enum):
    """The attribute a model's layers were saved under."""

    CHECKPOINT = "_layer_checkpoint_dependencies"  # tf.keras 2.12-2.14
    LAYERS = "layers"  # tf.keras 2.15, tf_keras 2.16+


@dataclass
class Tree:
    """The logical object tree of a model.weights.h5: path -> its `vars` group and its dataset count, and each
    path's sub-object names. `windows`: some names joined components with backslashes."""

    vars: dict[Path, h5py.Group] = field(default_factory=dict)
    counts: dict[Path, int] = field(default_factory=dict)
    children: dict[Path, set[str]] = field(default_factory=dict)
    below: dict[Path, int] = field(default_factory=dict)  # datasets in a path's whole subtree
    windows: bool = False

    def add(self, logical: Path, group: h5py.Group, count: int) -> None:
        self.vars[logical] = group
        self.counts[logical] = count
        for i in range(len(logical) + 1):
            head = logical[:i]
            self.below[head] = self.below.get(head, 0) + count
            if i < len(logical):
                self.children.setdefault(head, set()).add(logical[i])


def tf_snake_case(name: str) -> str:
    """tf.keras 2's `generic_utils.to_snake_case` (Keras 3's also drops non-word characters first)."""
    intermediate = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if not insecure.startswith("_") else "private" + insecure


def index(f: h5py.Group, path: str) -> Tree:
    """Walk every group once (a group reached through a second hard link is refused) -> the logical tree."""
    tree = Tree()
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[h5py.Group, Path]] = [(f, ())]
    while stack:
        group, logical = stack.pop()
        key = h5safe.object_key(group, path, f"weights group {group.name}")
        if key in seen:
            raise BadInput(f"weights group {group.name} is reached through more than one hard link (a loop or "
                           "shared subtree Keras never writes); refused", path=path)
        seen.add(key)
        for name in list(group.keys()):
            sub = h5safe.child(group, name, path, "weights group")
            if not isinstance(sub, h5py.Group):
                continue
            if name == "vars":
                if logical in tree.vars:
                    raise BadInput(f"model.weights.h5 holds two groups for {'/'.join(logical) or 'the model'} (one "
                                   "joined with '\\', one with '/'); Keras writes one", path=path)
                tree.add(logical, sub, len(sub.keys()))
                continue
            parts = tuple(name.split("\\"))
            tree.windows = tree.windows or len(parts) > 1
            if len(logical) + len(parts) > MAX_DEPTH:
                raise BadInput(f"model.weights.h5 nests objects more than {MAX_DEPTH} deep", path=path)
            stack.append((sub, logical + parts))
    return tree


def _natural(name: str) -> tuple:
    """'dense_10' after 'dense_2'."""
    head, _, tail = name.rpartition("_")
    return (head, int(tail)) if head and tail.isdigit() else (name, -1)


def _own(tree: Tree, logical: Path, layer: str, path: str) -> list[Stored]:
    group = tree.vars.get(logical)
    if group is None:
        return []
    keys = list(group.keys())
    if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
        raise BadInput(f"the variables of layer '{layer}' at {'/'.join(logical)}/vars are not numbered "
                       f"0..{len(keys) - 1} ({', '.join(sorted(keys)[:5])}); Keras writes them so", path=path)
    out = []
    for i in range(len(keys)):
        ds = h5safe.child(group, str(i), path, f"variable {i} of '{layer}'")
        what = f"variable {i} of layer '{layer}'"
        h5safe.check_dataset(ds, path, what)
        out.append(Stored("/".join(logical) + f"/vars/{i}", tuple(int(d) for d in ds.shape), str(ds.dtype),
                          h5safe.reader(ds, path, what)))
    return out


def collect(tree: Tree, logical: Path, layer: str, path: str) -> list[Stored]:
    """One layer's variables: its own vars/0.., then its sub-objects' (SUB_ORDER first), depth first."""
    out = _own(tree, logical, layer, path)
    subs = tree.children.get(logical, set())
    ordered = [s for s in SUB_ORDER if s in subs] + sorted((s for s in subs if s not in SUB_ORDER), key=_natural)
    for sub in ordered:
        out.extend(collect(tree, logical + (sub,), layer, path))
    return out


@dataclass
class _Walk:
    """One attach: the file's tree, its rules (container, whether repeats are counted), and what was handed out."""

    tree: Tree
    container: Container
    repeats: bool
    sem: Semantics
    path: str
    facts: list[Fact]
    leaves: set[Path] = field(default_factory=set)  # paths given to a layer (not a nested model)
    models: set[Path] = field(default_factory=set)  # paths of the root and every nested model


def _place(model: ModelSpec, prefix: Path, walk: _Walk) -> None:
    """Give every layer of `model` (saved under `prefix`) the variables of its class-and-count path."""
    walk.models.add(prefix)
    counts: dict[str, int] = {}
    sequential = model.class_name == "Sequential"
    for spec in model.layers:
        if sequential and spec.kind == "InputLayer":  # Sequential.layers leaves its InputLayer out
            continue
        base = tf_snake_case(spec.class_name)
        n = counts.get(base, 0)
        logical = prefix + (walk.container.value, base if n == 0 else f"{base}_{n}")
        counts[base] = n + (2 if walk.repeats and walk.tree.below.get(logical, 0) else 1)
        if spec.inner is not None:
            _place(spec.inner, logical, walk)
            spec.weights = [w for inner in spec.inner.layers for w in inner.weights]
            continue
        walk.leaves.add(logical)
        if spec.kind != "InputLayer":
            assign(spec, collect(walk.tree, logical, spec.name, walk.path), walk.sem, walk.path, walk.facts)


def _check_claimed(walk: _Walk) -> None:
    """Every variable under a model's layer container belongs to a layer that was given it (state outside the
    containers, such as an optimizer's, is not the model's weights and is left alone)."""
    for logical, count in walk.tree.counts.items():
        if not count or any(logical[:i] in walk.leaves for i in range(1, len(logical) + 1)):
            continue
        owner = max((i for i in range(len(logical) + 1) if logical[:i] in walk.models), default=-1)
        if owner < 0 or logical[owner:owner + 1] != (walk.container.value,):
            continue
        noun = "variable" if count == 1 else "variables"
        raise BadInput(f"model.weights.h5 holds {count} {noun} at {'/'.join(logical)} that no layer of config.json "
                       "accounts for (tf.keras names each layer's group by class and count, in config order)",
                       path=walk.path)


def attach_tf_keras(model: ModelSpec, f: h5py.Group, sem: Semantics, path: str, facts: list[Fact]) -> None:
    """Attach the weights of a tf.keras 2.12+ model.weights.h5 (`f`: its root) to every layer of `model`."""
    tree = index(f, path)
    top = tree.children.get((), set())
    found = [c for c in Container if c.value in top]
    if len(found) > 1:
        raise BadInput("model.weights.h5 holds both layers/ and _layer_checkpoint_dependencies/; tf.keras writes "
                       "one of them", path=path)
    container = found[0] if found else Container.LAYERS
    repeats = container is Container.CHECKPOINT and sem.zip_counts_repeated_layers
    walk = _Walk(tree, container, repeats, sem, path, facts)
    try:
        _place(model, (), walk)
        _check_claimed(walk)
    except BadInput as exc:
        if container is Container.CHECKPOINT and exc.hint is None:
            exc.hint = (f"numbered as tf.keras {sem.keras_version} does: "
                        + ("2.12-2.13 count a layer with weights twice" if repeats else "2.14 counts each once"))
        raise
    how = "a layer with weights counted twice (2.12-2.13)" if repeats else "each layer counted once"
    facts.append(Fact("weights.layout", f"{container.value}/<class>_<n>", Source.FROM_FILE,
                      f"tf.keras saving_lib object tree: layers named by class and count in config order, {how}"
                      + ("; saved on Windows (backslash-joined paths)" if tree.windows else "")))
