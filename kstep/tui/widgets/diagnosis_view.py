"""Provides `DiagnosisView`: for the first divergence, each known migration cause kstep tried, with the error
before and after its fix (✓ when the fix closes the gap), the action for the user, and per-sample verdicts."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis, Row
from kstep.tui import render


def diagnosis(analysis: Analysis, row: Row) -> Text:
    fd = analysis.first_divergence
    if fd is None:
        if not analysis.complete:
            return Text("the diagnosis runs once the analysis is complete", style="dim")
        return Text("no divergence: nothing to diagnose", style="dim")
    if fd.row != row.index:
        target = analysis.rows[fd.row] if 0 <= fd.row < len(analysis.rows) else None
        name = render.row_label(target) if target else str(fd.row)
        return Text(f"diagnosis runs on the first divergence: row {fd.row} {name} (f jumps there)", style="dim")
    cause = render.safe(fd.cause) if fd.cause else "none verified"
    lines = [Text.assemble(("first divergence ", "bold red"), (render.row_label(row), "bold"),
                           f"  reason: {render.safe(fd.reason)}  cause: {cause}"),
             Text("each known cause re-run with its fix: max|Δ| before → after", style="dim")]
    if fd.summary:
        lines.append(Text(render.safe(fd.summary), style="dim"))
    if not fd.hypotheses:
        lines.append(Text("no known migration cause applies here", style="dim"))
    for h in fd.hypotheses:
        mark = Text("✓ " if h.explains else "✗ ", style="bold green" if h.explains else "red")
        lines.append(mark + Text(f"{render.num(h.before)} → {render.num(h.after)}  ")
                     + Text(f"{render.safe(h.code)}: {render.safe(h.title)}", style="bold" if h.explains else ""))
        if h.action:
            lines.append(Text("    " + render.safe(h.action), style="green" if h.explains else "dim"))
        if h.detail:
            lines.append(Text("    " + render.safe(h.detail), style="dim"))
    if analysis.verdicts:
        agree = sum(v.outputs_agree for v in analysis.verdicts)
        top = [v for v in analysis.verdicts if v.top1_old is not None]
        line = f"final outputs: {agree}/{len(analysis.verdicts)} samples agree"
        if top:
            line += f"; top-1 class agrees on {sum(v.top1_old == v.top1_new for v in top)}/{len(top)}"
        lines.append(Text(line))
    return Text("\n").join(lines)


class DiagnosisView(Static):
    """The Diagnosis tab."""

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool) -> None:
        if analysis is None or row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        self.update(diagnosis(analysis, row))
