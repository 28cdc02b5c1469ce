"""Provides the explicit registry from canonical layer kind to kernel, merged from the family modules.

Each family module owns a literal `KERNELS` dict (kind -> kernel); the kind's kstep.kinds record names that module
as its family (tests/engine/test_kind_table.py checks both ways). Which kinds pass their first input's mask through
(`PASSES_MASK`) and which are structure the executor handles itself (`STRUCTURAL`) come from kstep.kinds too. A
kind missing here is unsupported: the executor reports it by layer name and kind and stops there.
"""

from __future__ import annotations

from kstep.engine import (
    advanced,
    attention,
    base,
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
from kstep.kinds import KINDS, Family

_FAMILIES = (core, conv, pooling, spatial, normalization, merge, advanced, recurrent, wrappers, attention)

REGISTRY: dict[str, Kernel] = {}
for _family in _FAMILIES:
    _overlap = REGISTRY.keys() & _family.KERNELS.keys()
    assert not _overlap, f"kinds registered twice: {sorted(_overlap)}"
    REGISTRY.update(_family.KERNELS)

PASSES_MASK: frozenset[str] = base.PASSES_MASK
"""Kinds that pass their first input's mask through unchanged when their kernel sets none (kstep.kinds)."""

STRUCTURAL: frozenset[str] = frozenset(k for k, i in KINDS.items() if i.family is Family.STRUCTURE)
"""Kinds that are structure, not maths (InputLayer, Model): the executor handles them itself."""


def lookup(kind: str) -> Kernel | None:
    """The kernel for `kind`, or None when kstep cannot execute it."""
    return REGISTRY.get(kind)


def supported(kind: str) -> bool:
    """Whether kstep can execute `kind` (a registered kernel or structure)."""
    return kind in REGISTRY or kind in STRUCTURAL
