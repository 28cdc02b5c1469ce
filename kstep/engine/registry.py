"""Provides the explicit registry from canonical layer kind to kernel, merged from the family modules.

Each family module owns a literal `KERNELS` dict (kind -> kernel) and a `PASSES_MASK` set (kinds that pass their
first input's mask through unchanged, as Keras's `supports_masking` layers do). A kind missing here is
unsupported: the executor reports it by layer name and kind and stops there.
"""

from __future__ import annotations

from kstep.engine import (
    advanced,
    attention,
    conv,
    core,
    merge,
    normalization,
    pooling,
    recurrent,
    spatial,
    wrappers,
)
from kstep.engine.base import Kernel

_FAMILIES = (core, conv, pooling, spatial, normalization, merge, advanced, recurrent, wrappers, attention)

REGISTRY: dict[str, Kernel] = {}
PASSES_MASK: set[str] = set()
for _family in _FAMILIES:
    _overlap = REGISTRY.keys() & _family.KERNELS.keys()
    assert not _overlap, f"kinds registered twice: {sorted(_overlap)}"
    REGISTRY.update(_family.KERNELS)
    PASSES_MASK |= _family.PASSES_MASK

# Kinds that are structure, not maths: the executor handles them itself.
STRUCTURAL = frozenset({"InputLayer", "Model"})


def lookup(kind: str) -> Kernel | None:
    """The kernel for `kind`, or None when kstep cannot execute it."""
    return REGISTRY.get(kind)


def supported(kind: str) -> bool:
    return kind in REGISTRY or kind in STRUCTURAL
