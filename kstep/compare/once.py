"""Provides `compare_once`: open, compute and close one comparison, returning the finished `Analysis` (what
`kstep report` and each of `kstep fix`'s rounds run; the debugger drives a `Comparison` step by step instead)."""

from __future__ import annotations

from typing import Callable

from kstep.analysis import Analysis
from kstep.compare.analyze import Comparison
from kstep.ir import ModelFile
from kstep.options import CompareOptions


def compare_once(old: str, new: str, ref: str, ref_new: str | None, options: CompareOptions, command: list[str],
                 patch_new: Callable[[ModelFile], None] | None = None) -> Analysis:
    """The whole comparison of OLD with NEW on REF (NEW patched in memory by `patch_new` first, when given)."""
    comparison = Comparison(old, new, ref, ref_new, options, command, patch_new=patch_new)
    try:
        for _ in comparison.run():
            pass
        return comparison.analysis()
    finally:
        comparison.close()
