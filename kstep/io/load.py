"""Provides `open_model`: any supported Keras file (plus optional separate weights) -> `ModelFile`, and
`ASSUME_KEYS`, the `--assume` keys it accepts.

Formats: full-model .h5 of every generation (model_config + model_weights), Keras 3 `.keras` zip, and an
architecture `.json` with a weights file (`--weights`: a legacy weights-only .h5 or a Keras 3 `.weights.h5`). A
weights-only file alone is refused with a message asking for the architecture. Weights stay in the file until an
array is needed (lazy `WeightRef.load`).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Any

import h5py

from kstep.errors import BadInput
from kstep.io import h5safe
from kstep.io.context import make_context
from kstep.io.detect import detect
from kstep.io.graph import GraphParser
from kstep.io.keras0 import keras0_layer_names, note_facts
from kstep.io.keras_zip import ARCHITECTURE, attach_keras3, open_keras_zip, parse_json, zip_version
from kstep.io.layer_groups import stored_by_layer, weight_names_by_layer
from kstep.io.order import execution_order
from kstep.io.weights import attach_h5
from kstep.ir import Fact, ModelFile

ASSUME_KEYS = {
    "backend": "backend that ran the file: theano | tensorflow | cntk | jax | torch | numpy",
    "keras_version": "Keras version that wrote the file, e.g. 1.2.2",
    "image_data_format": "keras.json image ordering for layers that did not store theirs: channels_first | "
                         "channels_last (also th | tf)",
    "layer.NAME.data_format": "image ordering of one layer",
}
MAX_CONFIG_BYTES = 64 * 2**20


def open_model(path: str, weights: str | None = None, assume: dict[str, str] | None = None, *,
               attach: bool = True) -> ModelFile:
    """Read `path` (and `weights`, for an architecture JSON) into a ModelFile; BadInput for anything unreadable.

    attach=False: everything but the weights (the debugger's check before its first screen): the file's
    structure, writer, detection, layer graph and execution order; `LayerSpec.weights` stay empty, no weight
    dataset is looked at, and no file stays open. Faults only the weights show are found by a full open."""
    assume = _normalize_assume(dict(assume or {}))
    h5safe.check_regular_file(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    with gc_paused():
        if head.startswith(b"PK"):
            return _open_keras_zip(path, assume, attach)
        if h5safe.is_hdf5(path):
            return _open_h5(path, weights, assume, attach)
        if head.lstrip()[:1] in (b"{", b"[") or path.endswith(".json"):
            return _open_json(path, weights, assume, attach)
    raise BadInput("is not a Keras model file (neither HDF5, .keras zip nor JSON)", path=path)


@contextmanager
def gc_paused():
    """The cyclic garbage collector off for the block (and back as it was after it). Reading a model allocates
    millions of objects that all stay alive (the config, the layer specs, a reader per dataset), and each full
    collection walks every one of them: ~10% of opening a 50,000-layer file. Nothing read here makes cycles that
    must be collected before the block ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _normalize_assume(assume: dict[str, str]) -> dict[str, str]:
    for key in list(assume):
        if key != "image_data_format" and not key.endswith(".data_format"):
            continue
        value = {"th": "channels_first", "tf": "channels_last"}.get(assume[key], assume[key])
        if value not in ("channels_first", "channels_last"):
            raise BadInput(f"--assume {key}={assume[key]}: expected channels_first or channels_last")
        assume[key] = value
    for key in assume:
        if key not in ASSUME_KEYS and not (key.startswith("layer.") and key.count(".") >= 2):
            raise BadInput(f"--assume {key}: unknown key (known: {', '.join(ASSUME_KEYS)})")
    return assume


def weights_group(f: h5py.File, path: str) -> h5py.Group:
    """The group holding `layer_names`: the root of a weights file, or `model_weights` of a full model."""
    if h5safe.attr_list(f, "layer_names", path) is None:
        mw = h5safe.child(f, "model_weights", path, "group")
        if mw is not None:
            return mw
    return f


def _open_h5(path: str, weights: str | None, assume: dict[str, str], attach: bool = True) -> ModelFile:
    f = h5safe.open_h5(path)
    try:
        config_text = h5safe.attr_str(f, "model_config", path)
        if config_text is None:
            if weights:
                raise BadInput("has no model_config: give the architecture (.json) as MODEL and the weights "
                               "with --weights", path=path)
            if h5safe.attr_list(f, "layer_names", path) is not None or "layers" in f or "vars" in f:
                raise BadInput("is a weights-only file (no model_config): pass the model architecture "
                               "(.json or full model) as MODEL and this file with --weights", path=path)
            raise BadInput("is an HDF5 file but not a Keras model (no model_config attribute)", path=path)
        if len(config_text) > MAX_CONFIG_BYTES:
            raise BadInput("model_config is larger than 64 MiB", path=path)
        config = parse_json(config_text, "model_config", path)
        group = weights_group(f, path)
        layer_names = h5safe.attr_list(group, "layer_names", path)
        if layer_names is None:
            raise BadInput("has a model_config but no model_weights/layer_names: saved without weights?", path=path)
        version = h5safe.attr_str(group, "keras_version", path) or h5safe.attr_str(f, "keras_version", path)
        backend = h5safe.attr_str(group, "backend", path) or h5safe.attr_str(f, "backend", path)
        mf = _build(path, "h5", config, group, layer_names, version, backend, assume, attach=attach)
        if attach:
            mf.close = f.close
        else:
            f.close()
        return mf
    except BaseException:
        f.close()
        raise


def _open_json(path: str, weights: str | None, assume: dict[str, str], attach: bool = True) -> ModelFile:
    size = os.path.getsize(path)
    if size > MAX_CONFIG_BYTES:
        raise BadInput("architecture JSON is larger than 64 MiB", path=path)
    notes: list[str] = []
    with open(path, "rb") as fh:
        config = parse_json(fh.read(), ARCHITECTURE, path, notes)
    if not isinstance(config, dict):
        raise BadInput("architecture JSON is not an object", path=path)
    if not weights:
        raise BadInput("is an architecture without weights: pass the weights file with --weights", path=path)
    f = h5safe.open_h5(weights)
    try:
        group = weights_group(f, weights)
        layer_names = h5safe.attr_list(group, "layer_names", weights)
        if layer_names is None:  # a Keras 0.x save_weights file has nb_layers instead (kstep.io.keras0)
            layer_names = keras0_layer_names(f, weights)
        if layer_names is None and h5safe.child(f, "layers", weights, "group") is not None:
            mf = _json_with_keras3_weights(path, config, f, assume, attach)
            mf.facts.extend(note_facts(notes))
            return mf
        if layer_names is None:
            raise BadInput("is not a Keras weights file (no layer_names)", path=weights)
        version = h5safe.attr_str(group, "keras_version", weights)
        backend = h5safe.attr_str(group, "backend", weights)
        jv, jb = config.get("keras_version"), config.get("backend")
        version = version or (jv if isinstance(jv, str) else None)
        backend = backend or (jb if isinstance(jb, str) else None)
        mf = _build(path, "json+h5", config, group, layer_names, version, backend, assume, weights_path=weights,
                    attach=attach)
        mf.facts.extend(note_facts(notes))
        if attach:
            mf.close = f.close
        else:
            f.close()
        return mf
    except BaseException:
        f.close()
        raise


def _json_with_keras3_weights(path: str, config: dict[str, Any], f: h5py.File, assume: dict[str, str],
                              attach: bool) -> ModelFile:
    """An architecture JSON with a `.weights.h5` in the Keras 3 layout (`layers/<name>/vars/<i>`)."""
    version = config.get("keras_version") if isinstance(config.get("keras_version"), str) else None
    backend = config.get("backend") if isinstance(config.get("backend"), str) else None
    return _build_keras3(path, "json+weights.h5", config, f, version, backend, assume,
                         "architecture JSON keras_version", attach)


def _open_keras_zip(path: str, assume: dict[str, str], attach: bool = True) -> ModelFile:
    config, meta, wf = open_keras_zip(path, read_weights=attach)
    version, where = zip_version(config, meta)
    return _build_keras3(path, "keras", config, wf, version, None, assume, where, attach)


def _build_keras3(path: str, fmt: str, config: Any, wf: h5py.File | None, version: str | None, backend: str | None,
                  assume: dict[str, str], version_where: str, attach: bool = True) -> ModelFile:
    """A model whose weights file uses the Keras 3 layout; closes `wf` on failure or without `attach`, else hands
    it to the result."""
    try:
        det = detect(version, backend, [], assume, version_where, path)
        ctx = make_context(config, det.semantics, assume)
        parser = GraphParser(ctx, path)
        model = parser.model(config)
        facts = det.facts + [ctx.image_data_format_fact] + parser.facts
        if attach:
            assert wf is not None
            attach_keras3(model, wf, det.semantics, path, facts)
        execution_order(model, path)
        mf = ModelFile(path, fmt, version, backend, det.semantics, det.evidence, _dedupe(facts), model)
        if attach:
            assert wf is not None
            mf.close = wf.close
        elif wf is not None:
            wf.close()
        return mf
    except BaseException:
        if wf is not None:
            wf.close()
        raise


def _build(path: str, fmt: str, config: Any, group: h5py.Group, layer_names: list[str], version: str | None,
           backend: str | None, assume: dict[str, str], weights_path: str | None = None,
           attach: bool = True) -> ModelFile:
    """A model whose weights are in the legacy HDF5 layout (`group` holds `layer_names`)."""
    wpath = weights_path or path
    # the weight names only tell a backend the file does not store (and a big model's take a while to walk): when
    # they are needed and the weights are too, both come from one visit of the weights group
    by_name = None
    names: list[str] = []
    if not backend and "backend" not in assume:
        if attach:
            by_name = stored_by_layer(group, layer_names, wpath)
            names = [s.name for n in layer_names for s in by_name[n]]
        else:
            names = weight_names_by_layer(group, layer_names, wpath)
    det = detect(version, backend, names, assume, path=wpath)
    ctx = make_context(config, det.semantics, assume)
    parser = GraphParser(ctx, path, layer_names)
    model = parser.model(config)
    facts = det.facts + [ctx.image_data_format_fact] + parser.facts
    if attach:
        if by_name is None:
            by_name = stored_by_layer(group, layer_names, wpath)
        attach_h5(model, by_name, layer_names, det.semantics, wpath, facts)
    execution_order(model, path)
    return ModelFile(path, fmt, version, backend, det.semantics, det.evidence, _dedupe(facts), model)


def _dedupe(facts: list[Fact]) -> list[Fact]:
    """The first fact of each key (a later one for the same key says nothing new)."""
    seen, out = set(), []
    for fact in facts:
        if fact.key not in seen:
            seen.add(fact.key)
            out.append(fact)
    return out
