"""Provides the reading of Keras 0.x architecture JSON (`is_keras0`, `from_keras0`) and of Keras 0.x weights files
(`KERAS0_GROUP`, `keras0_layer_names`, `keras0_param_names`), and `note_facts`, which turns the notes the JSON entry
(kstep.io.keras_zip.parse_json) records into the facts `inspect` shows.

Keras 0.x (2015) wrote `model.to_json()` as `{"name": "Sequential", "layers": [{"name": "Dense", "output_dim": 3,
...}, ...]}`: each layer's `name` is its class, its arguments sit beside it (no `class_name`/`config`), and layers
have no names of their own. `save_weights` wrote root attribute `nb_layers` and one group `layer_<k>` per layer with
attribute `nb_params` and datasets `param_<n>` (Keras 0.3 models.py). The Keras 0.x layers below run as the Keras 1
kinds of the same name with the same weight layouts (Keras 1 argument names, which kstep.io.canon maps); a layer is
named `layer_<k>` after its weights group. Anything else (Graph models, BatchNormalization, whose 0.x `running_std`
was a standard deviation, Merge, containers) is refused in one line naming Keras 0.x.
"""

from __future__ import annotations

from typing import Any

from kstep.errors import BadInput
from kstep.ir import Fact, Source

KERAS0_GROUP = "layer_{}"
MAX_KERAS0_LAYERS = 100_000
MAX_PARAMS = 64

# Keras 0.x class -> (Keras 1 class, renamed arguments). Arguments not listed keep their name.
_LAYERS: dict[str, tuple[str, dict[str, str]]] = {
    "Dense": ("Dense", {}),
    "TimeDistributedDense": ("TimeDistributedDense", {}),
    "Activation": ("Activation", {}),
    "Dropout": ("Dropout", {}),
    "Flatten": ("Flatten", {}),
    "Reshape": ("Reshape", {"dims": "target_shape"}),
    "Convolution2D": ("Convolution2D", {}),
    "MaxPooling2D": ("MaxPooling2D", {"poolsize": "pool_size", "stride": "strides"}),
    "AveragePooling2D": ("AveragePooling2D", {"poolsize": "pool_size", "stride": "strides"}),
    "Embedding": ("Embedding", {}),
    "LSTM": ("LSTM", {}),
    "GRU": ("GRU", {}),
    "SimpleRNN": ("SimpleRNN", {}),
}
# Keras 0.x bookkeeping that no Keras 1 layer takes (stack_size: Keras 0.2 Convolution2D's input channels).
_DROPPED = frozenset({"stack_size", "cache_enabled", "custom_name", "truncate_gradient"})


def is_keras0(value: Any) -> bool:
    """A Keras 0.x model config: top-level `name` 'Sequential' or 'Graph', no `class_name`/`config`, and layers
    without `class_name` (a Keras 2 `get_config()` dumped bare has layers with class_name: not Keras 0.x)."""
    if not isinstance(value, dict) or "class_name" in value or "config" in value:
        return False
    layers = value.get("layers")
    if value.get("name") == "Graph":
        return "nodes" in value
    return value.get("name") == "Sequential" and isinstance(layers, list) and not any(
        isinstance(layer, dict) and "class_name" in layer for layer in layers)


def from_keras0(value: dict[str, Any], path: str, notes: list[str]) -> dict[str, Any]:
    """A Keras 0.x Sequential config -> the Keras 1 `{"class_name": "Sequential", "config": [...]}` it means; a
    model kstep cannot map is one BadInput that names Keras 0.x."""
    kind = value["name"]
    layers = value.get("layers")
    if kind != "Sequential" or not isinstance(layers, list):
        raise BadInput(f"is a Keras 0.x {kind} model (architecture JSON without class_name): only Keras 0.x "
                       "Sequential models are read", path=path)
    if not layers or len(layers) > MAX_KERAS0_LAYERS:
        raise BadInput(f"is a Keras 0.x Sequential model with {len(layers)} layers", path=path)
    out = []
    for k, layer in enumerate(layers):
        cls = layer.get("name") if isinstance(layer, dict) else None
        if not isinstance(cls, str) or cls not in _LAYERS:
            shown = cls if isinstance(cls, str) else type(layer).__name__
            raise BadInput(f"is a Keras 0.x model whose layer {k} ({shown[:60]!r}) has no Keras 1 equivalent kstep "
                           f"reads (Keras 0.x layers read: {', '.join(sorted(_LAYERS))})", path=path)
        new_cls, renames = _LAYERS[cls]
        config: dict[str, Any] = {"name": KERAS0_GROUP.format(k)}
        for key, arg in layer.items():
            if key != "name" and key not in _DROPPED:
                config[renames.get(key, key)] = arg
        if "ignore_border" in config:  # Keras 0.1/0.2 pooling: True is Keras 1's 'valid'
            if config.pop("ignore_border") is not True:
                raise BadInput(f"is a Keras 0.x model whose layer {k} ({cls}) pools with ignore_border=False, which "
                               "no Keras 1 layer does", path=path)
            config.setdefault("border_mode", "valid")
        if k == 0 and isinstance(config.get("input_shape"), list):
            config["batch_input_shape"] = [None] + config.pop("input_shape")
        out.append({"class_name": new_cls, "config": config})
    notes.append(f"Keras 0.x architecture JSON: {len(out)} layers read as their Keras 1 equivalents, named "
                 "layer_<k> after their weights groups")
    return {"class_name": "Sequential", "config": out}


def keras0_layer_names(root: Any, path: str) -> list[str] | None:
    """The weights groups `layer_<k>` of a Keras 0.x weights file (root attribute `nb_layers`); None when `root` has
    no such attribute, BadInput when it is not a sane count."""
    try:
        if "nb_layers" not in root.attrs:
            return None
        value = root.attrs["nb_layers"]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"attribute nb_layers cannot be read ({exc})", path=path) from None
    n = _count(value, MAX_KERAS0_LAYERS)
    if n is None:
        raise BadInput(f"attribute nb_layers {str(value)[:40]} is not a layer count", path=path)
    return [KERAS0_GROUP.format(k) for k in range(n)]


def keras0_param_names(nb_params: Any) -> list[str] | None:
    """The datasets of one Keras 0.x weights group with attribute `nb_params` (None: not a sane count)."""
    n = _count(nb_params, MAX_PARAMS)
    return None if n is None else [f"param_{i}" for i in range(n)]


def _count(value: Any, limit: int) -> int | None:
    """An h5py attribute holding a small non-negative integer (numpy scalar or int), else None."""
    if getattr(value, "shape", ()) not in ((), (1,)):
        return None
    item = value.item() if hasattr(value, "item") else value
    if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item <= limit:
        return None
    return item


def note_facts(notes: list[str]) -> list[Fact]:
    """The notes the JSON entry recorded, as facts `inspect` lists."""
    return [Fact(f"architecture_json{'' if i == 0 else f'.{i}'}",
                 "Keras 0.x, read as Keras 1" if note.startswith("Keras 0.x") else "decoded", Source.FROM_FILE, note)
            for i, note in enumerate(notes)]
