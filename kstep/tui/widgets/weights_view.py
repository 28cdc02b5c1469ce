"""Provides `WeightsView`: each weight array of the pair in effective form — names, shapes, verdict ("identical",
"equal up to a spatial flip", "different", ...) and max|Δ|."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis, Row
from kstep.tui import render


def weights(row: Row) -> Table | Text:
    if not row.weights:
        return Text("this pair has no weights" if row.old and row.new else "no counterpart: nothing to compare",
                    style="dim")
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
    for label in ("old", "new", "shapes", "verdict", "max|Δ|"):
        table.add_column(Text(label, style="bold"), overflow="fold")
    for w in row.weights:
        style = "green" if w.verdict.ok else ("yellow" if w.verdict.transform is not None else "bold red")
        table.add_row(Text(render.safe(w.name_old) if w.name_old else "—"),
                      Text(render.safe(w.name_new) if w.name_new else "—"),
                      Text(f"{render.shape(w.shape_old, True)} / {render.shape(w.shape_new, True)}"),
                      Text(render.safe(w.verdict), style=style), Text(render.num(w.max_abs)))
    return table


class WeightsView(Static):
    """The Weights tab."""

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool) -> None:
        if analysis is None or row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        self.update(weights(row))
