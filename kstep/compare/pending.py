"""Provides the comparison's rows before anything is computed: every aligned layer pair, pending.

This is what the debugger draws first (kstep.preflight) and what `Comparison.analysis()` shows for rows it has not
reached, so both come from here. Light on purpose: no numpy, no engine (the first screen must not wait for them).
"""

from __future__ import annotations

from kstep import __version__
from kstep.analysis import PENDING, UNMATCHED, Analysis, FileInfo, Row, Side
from kstep.compare.align import Item, align
from kstep.compare.tolerance import shown_tolerance
from kstep.io.order import execution_order
from kstep.ir import ModelFile, ModelSpec


def static_items(model: ModelSpec, prefix: str = "") -> list[Item]:
    """Every layer call the executor will yield, in its order and with its keys, without running anything."""
    items: list[Item] = []
    for name, c in execution_order(model):
        spec = model.layer(name)
        key = prefix + (name if len(spec.calls) == 1 else f"{name}@{c}")
        if spec.kind == "Model" and spec.inner is not None:
            items.extend(static_items(spec.inner, key + "/"))
        items.append(Item(key, name, spec.kind))
    return items


def file_info(mf: ModelFile, path: str) -> FileInfo:
    """The header facts of one file; sha256 is filled in when the comparison runs (it reads the whole file)."""
    return FileInfo(path=path, sha256="", keras_version=mf.stored_keras_version,
                    backend=mf.stored_backend, generation=mf.semantics.generation,
                    detected_backend=mf.semantics.backend,
                    assumptions=[(f.key, f.value, f.source.value, f.why) for f in mf.facts])


def pending_row(index: int, old: Item | None, new: Item | None) -> Row:
    """A row not computed yet (unmatched when one side is missing: that needs no computing)."""
    return Row(index, static_side(old), static_side(new), UNMATCHED if old is None or new is None else PENDING)


def pending_analysis(old: ModelFile, new: ModelFile, old_path: str, new_path: str, forced: dict[str, str],
                     atol: float | None, rtol: float, command: list[str], notes: list[str]) -> Analysis:
    """Both models aligned, every row pending: the analysis before the comparison has computed anything."""
    align_notes: list[str] = []
    pairs = align(static_items(old.model), static_items(new.model), forced, align_notes)
    rows = [pending_row(i, o, n) for i, (o, n) in enumerate(pairs)]
    return Analysis(old=file_info(old, old_path), new=file_info(new, new_path), kstep_version=__version__,
                    command=command, tolerance=shown_tolerance(atol, rtol), rows=rows, first_divergence=None,
                    input_notes=list(notes) + align_notes, complete=False)


def static_side(item: Item | None) -> Side | None:
    """A row side known before running: key, name and kind (the class name is shown as the name until run)."""
    return None if item is None else Side(item.key, item.name, item.name, item.kind, None)
