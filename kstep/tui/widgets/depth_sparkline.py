"""Provides `DepthSparkline`: one row under the verdict line, the error along depth at a glance — the Markdown
report's sparkline (log10 max |Δ| per compared layer in OLD's order, kstep.report.profile.spark_cells, fitted to
the width here) with the selected row's cell between bold brackets (its glyph unchanged: reversing a block would
invert its level), so the mark reads without colour (NO_COLOR); colour only adds each cell's status. Followed by the
range it spans."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis, Row
from kstep.report.profile import spark_cells, spark_range
from kstep.tui import render

LABEL = "log max|Δ| "
MIN_CELLS = 4
"""Below this many cells the row stays empty (too narrow to say anything)."""


def sparkline_text(analysis: Analysis | None, selected: int | None, width: int) -> Text:
    """The row for `width` cells: label, sparkline (the cell holding row index `selected` as [c]), range."""
    if analysis is None:
        return Text("")
    tail = f"  {spark_range(analysis)}"
    cells = spark_cells(analysis, max(MIN_CELLS, width - len(LABEL) - len(tail) - 2))
    if len(cells) + len(LABEL) + 2 > width or not cells:
        return Text("")
    out = Text(LABEL, style="dim")
    for cell in cells:
        style = render.STATUS_STYLE.get(cell.status, "")
        if selected in cell.rows:
            out.append_text(Text.assemble(("[", "bold"), (cell.char, style), ("]", "bold")))
        else:
            out.append(cell.char, style=style)
    if len(out) + len(tail) <= width:
        out.append(tail, style="dim")
    return out


class DepthSparkline(Static):
    """The sparkline row; `show` sets what it draws, the width is the widget's own at render time."""

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.analysis: Analysis | None = None
        self.selected: int | None = None

    def show(self, analysis: Analysis | None, row: Row | None) -> None:
        self.analysis, self.selected = analysis, None if row is None else row.index
        self.refresh()

    def render(self) -> Text:
        return sparkline_text(self.analysis, self.selected, self.size.width)
