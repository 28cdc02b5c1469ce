"""Provides the pure functions that turn parts of an `Analysis` into rich `Text`: glyphs, numbers, shapes, names.

Every string that came from a model file (layer names, kinds, parameter values, notes) goes through `safe()`, which
makes control characters visible (kstep.errors.printable), and is wrapped in `Text(...)`, never parsed as markup:
a layer called "[bold red]X[/]" shows those characters, and one holding an OSC 52 escape cannot reach the terminal.
No Textual here (rich only) and no numerics beyond formatting.
"""

from __future__ import annotations

import math

from rich.text import Text

from kstep.analysis import (
    AGREE,
    DIVERGE,
    GLYPHS,
    INHERITED,
    MISMATCH,
    NOISE,
    PENDING,
    UNMATCHED,
    UNSUPPORTED,
    Analysis,
    FileInfo,
    Row,
    Side,
    Stats,
    Status,
)
from kstep.errors import printable
from kstep.options import MIN_ATOL, tol_text
from kstep.semantics import Generation
from kstep.tui.runner import BREAK_STATUSES

STATUS_STYLE = {
    AGREE: "green",
    NOISE: "green",
    INHERITED: "yellow",
    DIVERGE: "bold red",
    MISMATCH: "bold magenta",
    UNMATCHED: "cyan",
    UNSUPPORTED: "bold #ff8700",
    PENDING: "dim",
}
STATUS_LABEL = {
    AGREE: "agrees within tolerance",
    NOISE: f"agrees within the measured float32 noise (beyond {tol_text(MIN_ATOL)})",
    INHERITED: "differs only because an earlier layer did (isolated it agrees)",
    DIVERGE: "diverges on its own (isolated comparison fails)",
    MISMATCH: "shape or weight mismatch",
    UNMATCHED: "present in one model only",
    UNSUPPORTED: "a layer kind kstep cannot execute",
    PENDING: "not computed yet",
}


def safe(value: object) -> str:
    """Any value from a model file as one printable line: errors.printable, the one rule (control, bidi, zero-width
    and lone-surrogate characters shown as \\x.., \\u.. escapes)."""
    return printable(str(value))


def plain(value: object, style: str = "") -> Text:
    """A value from a model file as literal text (never markup)."""
    return Text(safe(value), style=style, no_wrap=True, overflow="ellipsis")


def fit(text: Text, width: int) -> Text:
    """`text` cut to `width` cells with an ellipsis."""
    text = text.copy()
    text.truncate(max(1, width), overflow="ellipsis")
    return text


def num(x: float | None) -> str:
    """A difference as 7 characters at most: 0, 6.6e-01, inf, nan, or — when absent."""
    if x is None:
        return "—"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.1e}"


def value(x: float | None) -> str:
    """An activation value (not a difference): 4 significant digits."""
    if x is None:
        return "—"
    return f"{float(x):.4g}"


def shape(s: tuple[int, ...] | None, batch: bool = False) -> str:
    """(2, 8, 8, 4) -> 8×8×4 (batch axis dropped unless `batch`); None -> —; () -> scalar."""
    if s is None:
        return "—"
    dims = tuple(s) if batch else tuple(s)[1:]
    if not dims:
        return "scalar" if batch or not s else "(batch)"
    return "×".join(str(d) for d in dims)


def glyph(status: Status) -> Text:
    """The status glyph, coloured; the glyph alone carries the meaning (NO_COLOR stays readable)."""
    return Text(GLYPHS.get(status, "?"), style=STATUS_STYLE.get(status, ""))


def row_stats(row: Row, isolated: bool) -> Stats | None:
    return row.isolated if isolated else row.propagated


def side_name(side: Side | None) -> str:
    return "—" if side is None else safe(side.key)


def pair_text(a: str, b: str, sep: str = "→") -> Text:
    """'x' when both sides agree, else 'a→b' with the arrow dimmed."""
    if a == b:
        return Text(a, no_wrap=True, overflow="ellipsis")
    return Text.assemble(a, (sep, "dim"), b, no_wrap=True, overflow="ellipsis")


def is_first(analysis: Analysis, row: Row) -> bool:
    fd = analysis.first_divergence
    return fd is not None and fd.row == row.index


def first_row(analysis: Analysis) -> int | None:
    """Row index of the first divergence; while the analysis runs, the first row that already breaks."""
    if analysis.first_divergence is not None:
        return analysis.first_divergence.row
    for row in analysis.rows:
        if row.status in BREAK_STATUSES:
            return row.index
    return None


def file_line(label: str, info: FileInfo) -> Text:
    """'OLD old.h5  Keras 1.2.2 theano  assumed: backend=theano' — writer as stored, facts kstep had to assume."""
    writer = []
    if info.keras_version:
        writer.append(("tf.keras " if info.generation == Generation.TF_KERAS else "Keras ") + safe(info.keras_version))
    else:
        writer.append(f"{info.generation} (version not stored)")
    writer.append(safe(info.backend) if info.backend else f"{safe(info.detected_backend)}?")
    line = Text.assemble((f"{label} ", "bold"), (safe(info.path), "bold"), "  ", " ".join(writer),
                         no_wrap=True, overflow="ellipsis")
    assumed = [f"{safe(k)}={safe(v)}" for k, v, source, _ in info.assumptions if source in ("assumed",)]
    if assumed:
        line.append("  assumed: ", style="yellow")
        line.append(", ".join(assumed), style="yellow")
    return line


def verdict(analysis: Analysis) -> Text:
    """The line that stays visible: where the models first part and why, or that they agree."""
    fd = analysis.first_divergence
    if fd is None:
        if not analysis.complete:
            first = first_row(analysis)
            if first is None:
                return Text("no divergence so far", style="dim")
            row = analysis.rows[first]
            return Text.assemble(("first suspect ", "bold"), (row_label(row), "bold red"), f" ({row.status})",
                                 no_wrap=True, overflow="ellipsis")
        unsupported = [r for r in analysis.rows if r.status == UNSUPPORTED]
        if unsupported:
            return Text.assemble(("agree up to ", "bold green"), (row_label(unsupported[0]), "bold"),
                                 (" (unsupported: not compared further)", "#ff8700"), no_wrap=True,
                                 overflow="ellipsis")
        return Text("✓ models agree within tolerance", style="bold green")
    if fd.reason == "unsupported":
        stopped = analysis.rows[fd.row] if 0 <= fd.row < len(analysis.rows) else None
        side = None if stopped is None else stopped.old or stopped.new
        kind = f" ({safe(side.kind)})" if side is not None else ""
        return Text.assemble(("STOPPED AT ", "bold #ff8700"), (safe(fd.old_layer or fd.new_layer), "bold"),
                             f"{kind}: unsupported layer kind; every earlier layer agrees", no_wrap=True,
                             overflow="ellipsis")
    names = {x for x in (fd.old_layer, fd.new_layer) if x}
    layer = "→".join(safe(n) for n in ([fd.old_layer, fd.new_layer] if len(names) > 1 else names))
    cause = safe(fd.cause) if fd.cause else f"no verified cause: {safe(fd.reason)}"
    line = Text.assemble(("FIRST DIVERGENCE ", "bold red"), (layer, "bold"), f" ({cause})",
                         no_wrap=True, overflow="ellipsis")
    fix = next((h for h in fd.hypotheses if h.explains), None)
    if fix is not None and fix.before is not None and fix.after is not None:
        line.append(f" · the fix closes {num(fix.before)} → {num(fix.after)}", style="green")
    return line


def row_label(row: Row) -> str:
    a, b = side_name(row.old), side_name(row.new)
    return a if a == b or row.new is None else (b if row.old is None else f"{a}→{b}")


def kind_text(row: Row) -> Text:
    a = safe(row.old.kind) if row.old else "—"
    b = safe(row.new.kind) if row.new else "—"
    if row.old is None or row.new is None:
        return Text(a if row.old else b, no_wrap=True, overflow="ellipsis")
    return pair_text(a, b)


def shape_text(row: Row) -> Text:
    """OLD's output shape; `a≠b` only when the shapes differ after NEW was mapped onto OLD's layout."""
    a = shape(row.old.shape) if row.old else "—"
    b = shape(row.new.shape) if row.new else "—"
    if row.old is None or row.new is None:
        return Text(a if row.old else b, no_wrap=True)
    stats = row.propagated
    if stats is not None and stats.shape_old and stats.shape_new:
        a, b = shape(stats.shape_old), shape(stats.shape_new)  # both in OLD's layout
    elif row.layout != "same":
        b = a
    if a == b:
        return Text(a, no_wrap=True, overflow="ellipsis")
    return Text.assemble(a, ("≠", "bold magenta"), b, no_wrap=True, overflow="ellipsis")


def layer_text(row: Row) -> Text:
    a, b = side_name(row.old), side_name(row.new)
    if row.old is None:
        return Text.assemble(("— → ", "dim"), b, no_wrap=True, overflow="ellipsis")
    if row.new is None:
        return Text.assemble(a, (" → —", "dim"), no_wrap=True, overflow="ellipsis")
    return pair_text(a, b)


def sample_in_view(analysis: Analysis | None, chosen: int | None) -> int | None:
    """The sample the Activations tab shows (absolute index): `chosen` when it is one of the analysis' samples, else
    the first divergence's, else the first compared; `chosen` before there is an analysis."""
    if analysis is None:
        return chosen
    first, count = analysis.samples.first, max(1, analysis.samples.count)
    if chosen is not None and first <= chosen < first + count:
        return chosen
    fd = analysis.first_divergence
    return fd.sample if fd is not None and fd.sample is not None else first


def step_sample(analysis: Analysis, chosen: int | None, step: int) -> int:
    """The sample `step` after the one in view, wrapping over the analysis' N samples."""
    first, count = analysis.samples.first, max(1, analysis.samples.count)
    current = sample_in_view(analysis, chosen)
    return first + ((current if current is not None else first) - first + step) % count


def isolated_missing(row: Row) -> bool:
    """A compared row whose isolated statistics are missing or cover fewer samples than its propagated ones."""
    p = row.propagated
    return p is not None and row.old is not None and row.new is not None and (
        row.isolated is None or row.isolated.samples < p.samples)


def error_cells(row: Row, isolated: bool) -> tuple[Text, Text]:
    s = row_stats(row, isolated)
    if s is None:
        return Text("—", style="dim"), Text("—", style="dim")
    style = "" if s.passed else "bold"
    return Text(num(s.max_abs), style=style), Text(num(s.max_rel), style=style)
