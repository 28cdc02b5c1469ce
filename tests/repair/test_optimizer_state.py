"""The optimizer's saved state when `kstep fix` edits a weight (kstep/write/optimizer.py): slots named after the
weight move with it when the edit only rearranges elements; a weight with no slot leaves the state alone; slots
that name no weight, or a weight with slots changed otherwise, drop the whole state with a note."""

import h5py
import numpy as np

from kstep.cli import main
from kstep.compare.fixes import apply_op
from kstep.edits import Edit, FixOp
from kstep.write.optimizer import update_state
from kstep.write.stored import StoredEdit
from tests.conftest import FIXTURES

PAIR = FIXTURES / "pairs" / "channels_first_to_last_flatten"
ADAM = FIXTURES / "optimizer" / "channels_first_to_last_flatten.adam.h5"


def test_slots_move_with_the_rows(tmp_path, capsys):
    out = tmp_path / "fixed.h5"
    argv = ["fix", str(PAIR / "old.h5"), str(ADAM), str(PAIR / "ref.npy"), "--ref-new", str(PAIR / "ref_new.npy"),
            "-o", str(out)]
    assert main(argv) == 0
    assert "2 slot(s) of the edited weights transformed" in capsys.readouterr().err
    with h5py.File(ADAM, "r") as a, h5py.File(out, "r") as b:
        kernel_new, kernel_fixed = a["model_weights/fc1/fc1/kernel:0"][()], b["model_weights/fc1/fc1/kernel:0"][()]
        rows = [int(np.flatnonzero((kernel_new == row).all(axis=1))[0]) for row in kernel_fixed]
        assert sorted(rows) == list(range(len(rows))) and rows != list(range(len(rows)))
        for slot in ("m", "v"):
            name = f"optimizer_weights/Adam/{slot}/fc1/kernel:0"
            assert np.array_equal(b[name][()], a[name][()][rows])  # the same permutation as the kernel's rows
        for name in ("optimizer_weights/Adam/m/conv1/kernel:0", "optimizer_weights/iteration:0"):
            assert np.array_equal(b[name][()], a[name][()])


def _state(tmp_path, names):
    path = tmp_path / "state.h5"
    with h5py.File(path, "w") as f:
        for name in names:
            f.create_dataset(name, data=np.arange(12, dtype="float32").reshape(3, 4))
    return path


def _edit(op, name="fc/kernel:0"):
    original = np.zeros((3, 4), "float32")
    args = {FixOp.PERMUTE_GATES: (1, 0)}.get(op, ())
    return StoredEdit("/w", "fc", original, original, name, (Edit("fc", op, weights=(0,), args=args),))


def test_slots_that_name_no_weight_are_dropped(tmp_path):
    """Keras 2.2.4 names slots training/Adam/Variable_3:0: they cannot be told apart, so the state goes."""
    path = _state(tmp_path, ["optimizer_weights/training/Adam/Variable_3:0"])
    with h5py.File(path, "r+") as f:
        note = update_state(f, ("optimizer_weights",), [_edit(FixOp.PERMUTE_GATES)], frozenset({"fc/kernel:0"}))
        assert "dropped" in note and "optimizer_weights" not in f


def test_a_slot_of_a_non_rearranging_edit_drops_the_state(tmp_path):
    path = _state(tmp_path, ["optimizer_weights/Adam/m/fc/kernel:0"])
    with h5py.File(path, "r+") as f:
        note = update_state(f, ("optimizer_weights",), [_edit(FixOp.SQRT)], frozenset({"fc/kernel:0"}))
        assert "dropped" in note and "optimizer_weights" not in f


def test_named_slots_are_permuted(tmp_path):
    path = _state(tmp_path, ["optimizer_weights/Adam/m/fc/kernel:0", "optimizer_weights/Adam/m/other/kernel:0"])
    edit = _edit(FixOp.PERMUTE_GATES)
    with h5py.File(path, "r+") as f:
        before = f["optimizer_weights/Adam/m/fc/kernel:0"][()]
        note = update_state(f, ("optimizer_weights",), [edit], frozenset({"fc/kernel:0", "other/kernel:0"}))
        assert "1 slot(s)" in note
        assert np.array_equal(f["optimizer_weights/Adam/m/fc/kernel:0"][()], apply_op(edit.ops[0], before))
        assert np.array_equal(f["optimizer_weights/Adam/m/other/kernel:0"][()], before)


def test_no_state_no_note(tmp_path):
    path = _state(tmp_path, ["model_weights/fc/kernel:0"])
    with h5py.File(path, "r+") as f:
        assert update_state(f, ("optimizer_weights",), [_edit(FixOp.SQRT)], frozenset()) is None
