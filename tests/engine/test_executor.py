"""The transient executor (used for the float64 noise runs): same results, arrays dropped after their last reader,
weights cast from another executor instead of read again."""

import numpy as np
import pytest

from kstep.engine.executor import Executor, _free_after
from kstep.io.load import open_model
from kstep.io.order import execution_order
from tests.conftest import FIXTURES

CASES = ["k3/shared_and_nested", "k3/merge_multi_input", "tfk/embedding_mask_bilstm_td", "k3/conv2d_pool_bn"]


def _feeds(mf, case):
    path = FIXTURES / "modern" / case
    npz = path.with_suffix(".input.npz")
    if npz.exists():
        z = np.load(npz)
        return {k: z[k] for k in z.files}
    return {mf.model.inputs[0].layer: np.load(path.with_suffix(".input.npy"))}


@pytest.mark.parametrize("case", CASES)
def test_transient_run_yields_the_same_outputs(case):
    mf = open_model(str(FIXTURES / "modern" / f"{case}.h5"), {})
    feeds = _feeds(mf, case)
    kept = Executor(mf, "float64")
    base = Executor(mf, "float32")
    light = Executor(mf, "float64", weights_from=base, transient=True)
    a = list(kept.step(feeds))
    b = []
    for r in light.step(feeds):  # compare at yield time: the caller drops them afterwards
        b.append((r.key, [o.copy() for o in r.outputs]))
        r.outputs, r.input_arrays = [], []
    assert [r.key for r in a] == [k for k, _ in b]
    for r, (_, outs) in zip(a, b):
        assert len(r.outputs) == len(outs)
        for x, y in zip(r.outputs, outs):
            assert x.dtype == y.dtype == np.float64
            np.testing.assert_array_equal(x, y)
    assert light._weights == {}  # nothing cached: cast per call from base's float32 weights
    assert base._weights  # which base read once


def test_free_after_drops_a_tensor_after_its_last_reader_and_keeps_outputs():
    mf = open_model(str(FIXTURES / "modern" / "k3" / "shared_and_nested.h5"), {})
    order = execution_order(mf.model)
    free = _free_after(mf.model, order)
    freed = [s for sources in free.values() for s in sources]
    assert len(freed) == len(set(freed))
    outputs = {(r.layer, r.call) for r in mf.model.outputs}
    assert not outputs & set(freed)
    for step, sources in free.items():
        for layer, call in sources:
            readers = [i for i, (n, c) in enumerate(order)
                       if any((r.layer, r.call) == (layer, call) for r in mf.model.layer(n).calls[c].inputs)]
            assert readers and max(readers) == step
