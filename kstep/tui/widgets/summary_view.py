"""Provides `SummaryView`: the selected pair at a glance — names, kinds, shapes, layout mapping, both statistics,
the worst element with both values, the weights in one line and the row's note."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis, Row, Stats
from kstep.tui import render


def stats_line(label: str, s: Stats | None, active: bool) -> Text:
    head = Text(f"{label:<11}", style="bold" if active else "dim")
    if s is None:
        return head + Text("not computed", style="dim")
    line = head + Text(f"max|Δ| {render.num(s.max_abs)}  rel {render.num(s.max_rel)}  mean {render.num(s.mean_abs)}  ")
    line += Text("within tol" if s.passed else "beyond tol", style="green" if s.passed else "bold red")
    if s.nan_mismatch:
        line += Text(f"  NaN mismatches {s.nan_mismatch}", style="bold red")
    return line


def summary(analysis: Analysis, row: Row, isolated: bool) -> Text:
    """Most useful first: verdict, kind and shapes, both errors, the worst element, the fix; then the rest."""
    lines = [Text.assemble(render.glyph(row.status), " ", (render.row_label(row), "bold"), "  ",
                           render.STATUS_LABEL.get(row.status, row.status))]
    kinds = render.kind_text(row)
    if row.old is not None and row.new is not None and row.old.class_name != row.new.class_name:
        kinds += Text(f" (class {render.safe(row.old.class_name)}→{render.safe(row.new.class_name)})", style="dim")
    s = row.propagated or row.isolated
    old_shape = render.shape(row.old.shape, batch=True) if row.old else "—"
    new_shape = render.shape(row.new.shape, batch=True) if row.new else "—"
    if s is not None and s.shape_old:
        old_shape, new_shape = render.shape(s.shape_old, True), render.shape(s.shape_new, True)
    both = [stats_line("propagated", row.propagated, not isolated), stats_line("isolated", row.isolated, isolated)]
    lines.extend(both[::-1] if isolated else both)
    active = row.isolated if isolated else row.propagated
    if active is not None and active.worst_index is not None:
        lines.append(Text(f"worst      [{', '.join(str(i) for i in active.worst_index)}]  old "
                          f"{render.value(active.worst_old)}  new {render.value(active.worst_new)}"))
    fd = analysis.first_divergence
    if fd is not None and fd.row == row.index:
        fix = next((h for h in fd.hypotheses if h.explains), None)
        if fix is not None and fix.action:
            lines.append(Text.assemble(("fix        ", "bold green"), render.safe(fix.action)))
        elif fd.summary:
            lines.append(Text("why        " + render.safe(fd.summary)))
    lines.append(Text("kind       ") + kinds)
    lines.append(Text(f"shapes     out {old_shape} / {new_shape} · compared {render.safe(row.layout)}"))
    if row.note:
        lines.append(Text("note       " + render.safe(row.note), style="yellow"))
    if row.weights:
        w = " · ".join(f"{render.safe(x.name_new or x.name_old)} {render.safe(x.verdict)}" for x in row.weights)
        lines.append(Text("weights    " + w))
    tol = active.tolerance if active is not None else analysis.tolerance
    lines.append(Text(f"tolerance  atol {tol.atol:.1e} + rtol {tol.rtol:.1e}·|old|  ({render.safe(tol.source)})",
                      style="dim"))
    return Text("\n").join(lines)


class SummaryView(Static):
    """The Summary tab."""

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool) -> None:
        if analysis is None or row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        self.update(summary(analysis, row, isolated))
