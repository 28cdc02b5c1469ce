"""Provides config edits written the way NEW's own Keras spells them: the stored layer config a layer key names,
and a canonical (tf.keras 2) key and value turned into the stored key and value of that config.

The mirror of kstep.io.canon: a key the stored config holds is set in place (in the stored spelling: Keras 1's
`dim_ordering` 'th'/'tf', `inner_activation`, `concat_axis`); a key it lacks is added only to a tf.keras 2 / Keras 3
config, whose constructor takes the canonical name. Anything else is `CannotWrite` (exit 2).
"""

from __future__ import annotations

from typing import Any

from kstep.edits import Edit
from kstep.errors import BadInput
from kstep.io.canon import RENAMES
from kstep.ir import ModelFile
from kstep.repair.patch import find_path
from kstep.semantics import Generation

DIM_ORDERING = {"channels_first": "th", "channels_last": "tf"}
"""Keras 1's spelling of a data_format value."""


class CannotWrite(BadInput):
    """NEW's file holds something kstep reads but cannot write back (exit 2)."""


def layer_entries(model_config: Any) -> list[dict[str, Any]]:
    """The layer entries of a stored model config (Sequential as a list in Keras 1 / 2.2.4, or config.layers)."""
    inner = model_config.get("config") if isinstance(model_config, dict) else None
    layers = inner if isinstance(inner, list) else inner.get("layers") if isinstance(inner, dict) else None
    return [e for e in layers if isinstance(e, dict)] if isinstance(layers, list) else []


def _name(entry: dict[str, Any]) -> str | None:
    cfg = entry.get("config")
    name = cfg.get("name") if isinstance(cfg, dict) else None
    return name if isinstance(name, str) else entry.get("name") if isinstance(entry.get("name"), str) else None


def layer_config(model_config: Any, names: list[str], key: str, path: str) -> dict[str, Any]:
    """The stored config dict of the layer at `names` (outermost first, as kstep.repair.patch.find_path resolves
    the key NAME, NAME@k or OUTER/INNER), found by name in each model's stored layer list."""
    current: Any = model_config
    for name in names:
        current = next((e for e in layer_entries(current) if _name(e) == name), None)
        if current is None:
            break
    cfg = current.get("config") if isinstance(current, dict) else None
    if not isinstance(cfg, dict):
        raise CannotWrite(f"kstep fix cannot find layer '{key}' in the stored model config", path=path)
    return cfg


def stored_item(cfg: dict[str, Any], key: str, value: Any, modern: bool, path: str) -> tuple[str, Any]:
    """(stored key, stored value) for canonical `key` = `value` in the layer config `cfg`."""
    if key in cfg:
        return key, value
    if key == "data_format" and "dim_ordering" in cfg and value in DIM_ORDERING:
        return "dim_ordering", DIM_ORDERING[value]
    if key == "axis" and "concat_axis" in cfg:
        return "concat_axis", value
    stored = next((old for old, canon in RENAMES.items() if canon == key and old in cfg), None)
    if stored is not None:
        return stored, value
    if modern:
        return key, value
    raise CannotWrite(f"kstep fix cannot write {key}={value!r} into the Keras 1 config of layer "
                      f"'{cfg.get('name')}' (no stored key spells it)", path=path)


def apply_config_edits(model_config: Any, edits: list[Edit], mf: ModelFile) -> list[str]:
    """Set every config edit in NEW's stored model config (in place; `mf`: NEW opened); the changes as words
    ('bn1: epsilon 1e-05 -> 0.001'). A key the config lacks is added only for tf.keras 2 / Keras 3."""
    modern = mf.semantics.generation in (Generation.TF_KERAS, Generation.KERAS3)
    changes = []
    for edit in edits:
        if not edit.is_config:
            continue
        names = [spec.name for spec in find_path(mf.model, edit.layer)]
        cfg = layer_config(model_config, names, edit.layer, mf.path)
        stored_key, value = stored_item(cfg, edit.key, edit.value, modern, mf.path)
        changes.append(f"{edit.layer}: {stored_key} {cfg.get(stored_key)!r} -> {value!r}")
        cfg[stored_key] = value
    return changes
