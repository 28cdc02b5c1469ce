"""The pairs `kstep fix` is proven on and the content digest of a repaired file, shared by the real-Keras check
(tests/fixtures/verify_fixes.py, which writes tests/fixtures/fix_verified.json) and the CI test that re-creates
each FIXED and compares its digest with the one real Keras verified (tests/repair/test_fix_verified.py)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from tests.conftest import FIXTURES, LEGACY

ROOTS = {"shared": LEGACY / "pairs", "tests": FIXTURES / "pairs"}
"""Where each manifest's pairs live: ../shared/fixtures/legacy/pairs and tests/fixtures/pairs."""
RECORD = FIXTURES / "fix_verified.json"


def manifest_pairs(source: str) -> list[dict]:
    """The pairs of one manifest (an empty list when ../shared is absent)."""
    path = ROOTS[source] / "manifest.json"
    return json.loads(path.read_text())["pairs"] if path.exists() else []


ACCEPT = {("shared", "cnn_tfk_retrained_fc2"): ["--accept-old-weights", "fc2"],
          ("tests", "weights_changed_k3_to_tfk"): ["--accept-old-weights", "fc2"]}
"""Pairs also run with options (recorded under `ID+accept`): OLD's weights accepted for the retrained layer."""


WITH_OPTIMIZER = ("channels_first_to_last_flatten", "channels_first_to_last_bn_variance_squared")
"""Pairs also run with NEW carrying Adam's saved state (tests/fixtures/optimizer, make_optimizer_state.py), recorded
under `ID+adam`; real Keras loads those FIXED with compile=True."""


def runs() -> list[tuple[str, dict, str, list[str]]]:
    """Every recorded run: (source, pair, record id, extra options): each manifest pair, the ACCEPT ones, and the
    WITH_OPTIMIZER ones (the pair with NEW replaced)."""
    out = []
    for source in ROOTS:
        for pair in manifest_pairs(source):
            out.append((source, pair, pair["id"], []))
            if (source, pair["id"]) in ACCEPT:
                out.append((source, pair, pair["id"] + "+accept", ACCEPT[(source, pair["id"])]))
            if source == "tests" and pair["id"] in WITH_OPTIMIZER:
                adam = dict(pair, new=f"../optimizer/{pair['id']}.adam.h5")
                out.append((source, adam, pair["id"] + "+adam", []))
    return out


def fix_argv(source: str, pair: dict, out: Path, extra: list[str] | None = None) -> list[str]:
    """`kstep fix` on one manifest pair, FIXED to `out`."""
    root = ROOTS[source]
    argv = ["fix", str(root / pair["old"]), str(root / pair["new"]), str(root / pair["ref"]), "-o", str(out)]
    argv += extra or []
    if pair.get("ref_new"):
        argv += ["--ref-new", str(root / pair["ref_new"])]
    if pair.get("new_weights"):
        argv += ["--weights-new", str(root / pair["new_weights"])]
    return argv


def suffix(pair: dict) -> str:
    """FIXED's suffix: NEW's (for an architecture JSON NEW, FIXED is the weights file: '.weights.h5' when NEW's
    weights file is named so, which tells tf.keras's load_weights that it holds the Keras 3 layout)."""
    name = Path(pair.get("new_weights") or pair["new"]).name
    return ".weights.h5" if name.endswith(".weights.h5") else Path(name).suffix


def _config_and_weights(path: Path) -> tuple[object, h5py.File]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            weights = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
        return config, weights
    f = h5py.File(path, "r")
    raw = f.attrs.get("model_config")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return (json.loads(text) if isinstance(text, str) else None), f


def digest(path: Path) -> str:
    """sha256 over the model config (keys sorted) and every dataset (path, dtype, shape, bytes), in path order:
    what real Keras loaded, independent of HDF5's byte layout."""
    config, f = _config_and_weights(path)
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode("utf-8"))
    try:
        names: list[str] = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in sorted(names):
            array = np.asarray(f[name][()])
            h.update(f"{name}|{array.dtype.str}|{array.shape}|".encode("utf-8"))
            h.update(np.ascontiguousarray(array).tobytes())
    finally:
        f.close()
    return h.hexdigest()


def output_key(pair: dict) -> str:
    """The final output's key in outputs_old.npz: the last layer the manifest's per-layer list compares."""
    return pair["per_layer"][-1]["layer_old"]
