"""tf.keras 2.13-2.15 `.keras` archives whose model.weights.h5 contradicts config.json (a variable missing, groups
swapped, a group no layer accounts for, variables not numbered 0..n-1, two layer containers, a 2.13 file renumbered
as 2.14 would, one group written both with '\\' and '/'): every command says one line naming the file, exit 2, no
traceback. Made at test time from the real files of tests/fixtures/tf2zip by rewriting their model.weights.h5."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import h5py
import pytest

from tests.conftest import FIXTURES
from tests.hostile.test_hostile import COMMANDS, check_refused

TF2ZIP = FIXTURES / "tf2zip"


def _edit(src: Path, dst: Path, change: Callable[[h5py.File], None]) -> Path:
    """Copy the archive `src` to `dst` with `change` applied to its model.weights.h5 (members keep their order)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "model.weights.h5":
                buf = io.BytesIO(data)
                with h5py.File(buf, "r+") as f:
                    change(f)
                data = buf.getvalue()
            zout.writestr(item, data)
    return dst


def _swap(a: str, b: str) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f.move(a, a + "_tmp")
        f.move(b, a)
        f.move(a + "_tmp", b)
    return change


def _extra(where: str) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f.create_group(where).create_group("vars").create_dataset("0", data=[1.0, 2.0])
    return change


def _both(f: h5py.File) -> None:
    f.copy(f["layers"], "_layer_checkpoint_dependencies")


# case -> (source file, change, what the line says)
CASES: dict[str, tuple[str, Callable[[h5py.File], None], str]] = {
    "variable_missing": ("k2.15.0/seq_cnn.keras", lambda f: f.__delitem__("layers/conv2d/vars/1"),
                         "has 1 weights, Conv2D with use_bias=True needs kernel and bias"),
    "groups_swapped": ("k2.15.0/seq_cnn.keras", _swap("layers/conv2d", "layers/conv2d_1"), "its config needs"),
    "group_of_no_layer": ("k2.15.0/seq_cnn.keras", _extra("layers/dense_3"),
                          "1 variable at layers/dense_3 that no layer of config.json accounts for"),
    "nested_group_of_no_layer": ("k2.15.0/functional_shared_nested.keras", _extra("layers/sequential/layers/dense_2"),
                                 "at layers/sequential/layers/dense_2 that no layer"),
    "vars_not_numbered": ("k2.15.0/seq_cnn.keras", lambda f: f.move("layers/dense/vars/1", "layers/dense/vars/2"),
                          "are not numbered 0..1"),
    "two_containers": ("k2.15.0/seq_cnn.keras", _both, "holds both layers/ and _layer_checkpoint_dependencies/"),
    "renumbered_2_13": ("k2.13.1/seq_cnn.keras", lambda f: f.move("_layer_checkpoint_dependencies/conv2d_2",
                                                                  "_layer_checkpoint_dependencies/conv2d_1"),
                        "2.12-2.13 count a layer with weights twice"),
    "windows_and_posix_group": ("k2.15.0/seq_cnn.win.keras", lambda f: f.copy(f["layers\\dense"], "layers/dense"),
                                "two groups for layers/dense (one joined with '\\', one with '/')"),
    "windows_group_of_no_layer": ("k2.15.0/seq_cnn.win.keras", _extra("layers\\dense_7"),
                                  "1 variable at layers/dense_7 that no layer"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CASES))
def test_contradicting_weights_are_one_line(case, command, tmp_path, capsys):
    """One line naming the file and the contradiction, exit 2, for every command."""
    source, change, needle = CASES[case]
    model = _edit(TF2ZIP / source, tmp_path / "m.keras", change)
    ref = tmp_path / "x.npy"
    shutil.copy(TF2ZIP / source.split("/")[0] / (Path(source).name.split(".")[0] + ".input.npy"), ref)
    out = tmp_path / "out.npz"
    check_refused(COMMANDS[command](str(model), None, str(ref), str(out)), capsys, [model, ref], needle, model)
    assert not out.exists()
