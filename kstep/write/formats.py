"""Provides the repaired file in NEW's own format: NEW copied and patched, never re-synthesised, so NEW's own Keras
loads it with its standard loader and only the edited datasets and config entries differ.

- legacy .h5 (`h5`): the file copied, `model_config` edited with its attribute's string type kept (fixed- or
  variable-length, its encoding), the edited datasets rewritten, the optimizer's state dropped when a weight changed;
- Keras 3 `.keras` (`keras`): a new zip with every member copied as it was (name, date, compression) except
  `config.json` and `model.weights.h5`, edited;
- architecture JSON + weights (`json+h5`, `json+weights.h5`): both, the JSON to `arch_out`.
Every other format kstep reads (tf.keras 2.12-2.15 `.keras`) is `CannotWrite`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from typing import Any, Sequence

import h5py

from kstep.compare.fixes import Supplied
from kstep.edits import Edit
from kstep.io.load import weights_group
from kstep.ir import ModelFile, ModelSpec
from kstep.semantics import Generation
from kstep.write.configs import CannotWrite, apply_config_edits
from kstep.write.optimizer import update_state
from kstep.write.stored import weight_edits, write_weights

LEGACY_OPTIMIZER = ("optimizer_weights",)
KERAS3_OPTIMIZER = ("optimizer",)


def check_writable(mf: ModelFile) -> None:
    """CannotWrite (exit 2) when kstep reads NEW's format but cannot write it."""
    if mf.format == "keras" and mf.semantics.generation is not Generation.KERAS3:
        raise CannotWrite(f"kstep reads this {mf.semantics.generation} .keras archive but cannot write that format; "
                          "save NEW as .h5 (or with Keras 3) and fix that", path=mf.path)
    if mf.format not in ("h5", "keras", "json+h5", "json+weights.h5"):
        raise CannotWrite(f"kstep fix cannot write NEW's format ({mf.format})", path=mf.path)


def suffixes(mf: ModelFile, weights_path: str | None) -> tuple[str, ...]:
    """The name endings under which NEW's own Keras reads FIXED as NEW's kind of file (Keras picks the loader by
    the name): '.keras' for an archive, '.weights.h5' for Keras 3 layout weights, '.h5'/'.hdf5' (or NEW's own
    ending) for a legacy HDF5 file."""
    if mf.format == "keras":
        return (".keras",)
    if mf.format == "json+weights.h5":
        return (".weights.h5",)
    own = os.path.splitext(weights_path or mf.path)[1].lower()
    return tuple(dict.fromkeys((".h5", ".hdf5", own)))


def check_name(mf: ModelFile, weights_path: str | None, out: str) -> None:
    """CannotWrite when FIXED's name would make NEW's Keras read it as another kind of file."""
    ends = suffixes(mf, weights_path)
    lowered = out.lower()
    legacy_weights = mf.format == "json+h5"  # tf.keras's load_weights takes x.weights.h5 for the Keras 3 layout
    if not lowered.endswith(ends) or (legacy_weights and lowered.endswith(".weights.h5")):
        raise CannotWrite(f"NEW's Keras reads this kind of file only under a name ending in {' or '.join(ends)}"
                          + (" (and not .weights.h5)" if legacy_weights else "")
                          + "; name FIXED so", path=out)


def _config_attr(f: h5py.File, edits: Sequence[Edit], mf: ModelFile, notes: list[str]) -> None:
    """Edit the root `model_config` attribute, keeping its string type."""
    if not any(e.is_config for e in edits):
        return
    raw = f.attrs["model_config"]
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    doc = json.loads(text)
    notes.extend(apply_config_edits(doc, list(edits), mf))
    new_text = json.dumps(doc)
    info = h5py.check_string_dtype(f.attrs.get_id("model_config").dtype)
    encoding = info.encoding if info is not None else "utf-8"
    encoded = new_text.encode(encoding)
    if info is not None and info.length is None:
        f.attrs.create("model_config", new_text if encoding == "utf-8" else encoded,
                       dtype=h5py.string_dtype(encoding))
    else:
        f.attrs.create("model_config", encoded, dtype=h5py.string_dtype(encoding, len(encoded)))


def _patch_h5(path: str, mf: ModelFile, edits: Sequence[Edit], legacy: bool, notes: list[str],
              config_attr: bool, supplied: Supplied | None) -> None:
    with h5py.File(path, "r+") as f:
        if config_attr:
            _config_attr(f, edits, mf, notes)
        stored = weight_edits(mf, edits, weights_group(f, mf.path).name if legacy else None, supplied)
        write_weights(f, stored, mf.path)
        note = update_state(f, LEGACY_OPTIMIZER if legacy else KERAS3_OPTIMIZER, stored, _weight_names(mf.model))
        if note:
            notes.append(note)


def _weight_names(model: ModelSpec) -> frozenset[str]:
    """Every stored weight name of the model, nested models included."""
    names: set[str] = set()
    for spec in model.layers:
        names.update(ref.name for ref in spec.weights)
        if spec.inner is not None:
            names |= _weight_names(spec.inner)
    return frozenset(names)


def write_fixed(mf: ModelFile, weights_path: str | None, edits: Sequence[Edit], out: str,
                arch_out: str | None = None, supplied: Supplied | None = None) -> list[str]:
    """Write NEW (opened as `mf`, from `mf.path` and `weights_path`) with `edits` applied (OLD_WEIGHTS's arrays
    from `supplied`): the model (or, for an architecture JSON, the weights) to `out`, the JSON to `arch_out`.
    Returns notes (what changed, what was dropped)."""
    check_writable(mf)
    notes: list[str] = []
    if mf.format == "h5":
        shutil.copyfile(mf.path, out)
        _patch_h5(out, mf, edits, True, notes, True, supplied)
    elif mf.format == "keras":
        _write_zip(mf, edits, out, notes, supplied)
    else:
        assert weights_path is not None
        shutil.copyfile(weights_path, out)
        _patch_h5(out, mf, edits, mf.format == "json+h5", notes, False, supplied)
        if arch_out is None:
            if any(e.is_config for e in edits):
                raise CannotWrite("the fix edits the architecture: name its JSON with --arch-out", path=mf.path)
        else:
            with open(mf.path, "rb") as fh:
                doc = json.loads(fh.read())
            if isinstance(doc, str):  # a JSON string holding the document (json.dump(model.to_json(), f))
                doc = json.loads(doc)
            notes.extend(apply_config_edits(doc, list(edits), mf))
            with open(arch_out, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
    return notes


def _write_zip(mf: ModelFile, edits: Sequence[Edit], out: str, notes: list[str], supplied: Supplied | None
               ) -> None:
    """A new archive: every member as it was, except config.json and model.weights.h5 edited."""
    with zipfile.ZipFile(mf.path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            if info.filename == "config.json" and any(e.is_config for e in edits):
                doc: Any = json.loads(zin.read(info))
                notes.extend(apply_config_edits(doc, list(edits), mf))
                zout.writestr(info, json.dumps(doc).encode("utf-8"))
            elif info.filename == "model.weights.h5" and any(not e.is_config for e in edits):
                zout.writestr(info, _patched_member(zin.read(info), mf, edits, notes, supplied))
            else:  # copied as a stream: nothing is allocated from a size the archive states
                with zin.open(info) as src, zout.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


def _patched_member(data: bytes, mf: ModelFile, edits: Sequence[Edit], notes: list[str],
                    supplied: Supplied | None) -> bytes:
    """model.weights.h5's bytes with the weight edits written (through a temp file: h5py edits files)."""
    fd, tmp = tempfile.mkstemp(suffix=".weights.h5")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        _patch_h5(tmp, mf, edits, False, notes, False, supplied)
        with open(tmp, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(tmp)
