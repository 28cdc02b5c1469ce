"""The target writers' files are laid out as the target Keras itself saves them: a tf_keras 2.21 fixture written by
kstep has the fixture's own `model_weights` (layer_names, each layer's weight_names, dataset paths and shapes), and a
Keras 3.15 .keras archive written by kstep has the original archive's weights tree (`layers/<class>[_n]/vars/<i>`,
names and shapes) and members. The fixtures were saved by real tf_keras / Keras (tests/fixtures/make_fixtures.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import pytest

from kstep.convert.target import Target
from kstep.io import h5safe
from kstep.io.load import open_model
from kstep.write.targets import write_target
from tests.conftest import FIXTURES

TFK = sorted(p for p in (FIXTURES / "modern" / "tfk").glob("*.h5")
             if not p.name.endswith(".twin.h5") and p.stem not in ("cudnn_lstm_gru", "reader_weight_prefix"))
"""The tf_keras fixtures kstep writes back (cudnn_lstm_gru is refused; reader_weight_prefix was saved in graph mode,
whose variable names carry the model's scope, `model_1/dense_a/kernel:0`, which eager tf_keras does not write)."""


def _legacy_tree(f: h5py.File) -> dict[str, object]:
    group = f["model_weights"]
    names = h5safe.attr_list(group, "layer_names", "x") or []
    tree: dict[str, object] = {"layer_names": names}
    for name in names:
        tree[name] = h5safe.attr_list(group[name], "weight_names", "x")
    group.visititems(lambda p, o: tree.__setitem__(p, o.shape) if isinstance(o, h5py.Dataset) else None)
    return tree


@pytest.mark.parametrize("path", TFK, ids=[p.stem for p in TFK])
def test_tf_keras_file_is_laid_out_as_tf_keras_saves_it(path: Path, tmp_path):
    """Same layer_names, weight_names, dataset paths and shapes as tf_keras's own save; root attributes of 2.21 with
    backend tensorflow; no training config, no optimizer state."""
    out = tmp_path / "out.h5"
    with open_model(str(path)) as mf:
        write_target(mf.model, Target.TF_KERAS, str(out))
    with h5py.File(path, "r") as want, h5py.File(out, "r") as got:
        assert _legacy_tree(got) == _legacy_tree(want)
        assert h5safe.attr_str(got, "keras_version", "x") == "2.21.0"
        assert h5safe.attr_str(got, "backend", "x") == "tensorflow"
        assert "training_config" not in got.attrs and "optimizer_weights" not in got
        assert json.loads(got.attrs["model_config"])["class_name"] == json.loads(want.attrs["model_config"])[
            "class_name"]


def _archive_tree(path: Path) -> tuple[list[str], dict[str, object]]:
    with zipfile.ZipFile(path) as zf:
        members = zf.namelist()
        f = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    tree: dict[str, object] = {}
    f.visititems(lambda p, o: tree.__setitem__(p, o.shape if isinstance(o, h5py.Dataset) else dict(o.attrs)))
    f.close()
    return sorted(members), tree


def test_keras3_archive_is_laid_out_as_keras3_saves_it(tmp_path):
    """Same members and the same weights tree (paths, each vars group's name, shapes) as Keras 3.15's own save."""
    original = FIXTURES / "modern" / "reader" / "k3_small_zip.keras"
    out = tmp_path / "out.keras"
    with open_model(str(original)) as mf:
        write_target(mf.model, Target.KERAS3, str(out))
    assert _archive_tree(out) == _archive_tree(original)
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
    assert meta["keras_version"] == "3.15.1"
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, 6]
