"""Provides the arrays of `kstep fix --accept-old-weights LAYER`: OLD's weights of the aligned layer, in the form
NEW's layer executes them (kstep.compare.effective: Theano flips undone, CuDNN forms mapped), checked against
NEW's stored shapes. Only for the layers the user names; the rest of the repair never reads OLD's weights."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kstep.compare.effective import effective
from kstep.edits import Edit, FixOp
from kstep.errors import BadInput
from kstep.io.load import open_model
from kstep.options import CompareOptions
from kstep.repair.patch import find_layer


def old_weights(old: str, new: str, options: CompareOptions, edits: Sequence[Edit]
                ) -> dict[tuple[str, int], np.ndarray]:
    """(NEW's layer key, weight index) -> OLD's array in NEW's form, for every OLD_WEIGHTS edit."""
    wanted = [e for e in edits if e.op is FixOp.OLD_WEIGHTS]
    if not wanted:
        return {}
    out: dict[tuple[str, int], np.ndarray] = {}
    with open_model(old, options.weights_old, dict(options.assume_old)) as om, \
            open_model(new, options.weights_new, dict(options.assume_new)) as nm:
        for edit in wanted:
            old_spec, new_spec = find_layer(om.model, str(edit.args[0])), find_layer(nm.model, edit.layer)
            eff = effective(old_spec, [ref.load() for ref in old_spec.weights], om.semantics)
            as_new = effective(new_spec, eff, nm.semantics)  # a flip is its own inverse
            for i in edit.weights:
                want = tuple(new_spec.weights[i].shape)
                if i >= len(as_new) or tuple(as_new[i].shape) != want:
                    got = tuple(as_new[i].shape) if i < len(as_new) else None
                    raise BadInput(f"--accept-old-weights {edit.layer}: OLD's weight {i} has shape {got}, NEW's "
                                   f"layer stores {want}; kstep cannot copy it", path=new)
                out[(edit.layer, i)] = as_new[i]
    return out
