"""Provides `LayerTable`: the aligned layer pairs of both models, one row each, with status glyph and errors.

Below 110 columns a row shows one name/kind/shape column (`a→b` where the sides differ, `a≠b` for shapes); from
110 columns OLD and NEW get their own name, kind and shape columns. Cells are rich Text built by kstep.tui.render,
never markup strings. Updates from the running analysis change only the cells that changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from kstep.analysis import Analysis, Row
from kstep.tui import render

WIDE = 110
PAD = 1  # cell padding on each side
SCROLLBAR = 1


def columns(width: int, isolated: bool, n_rows: int = 10) -> list[tuple[str, str, int]]:
    """(key, label, width) for a table `width` cells wide; name columns take what the fixed ones leave."""
    idx = len(str(max(0, n_rows - 1))) + 1
    err = [("max", "iso|Δ|" if isolated else "max|Δ|", 7), ("rel", "iso rel" if isolated else "rel", 7)]
    if width >= WIDE:
        fixed = [("idx", "#", idx), ("st", "", 1), ("okind", "old kind", 12), ("oshape", "old shape", 11),
                 ("nkind", "new kind", 12), ("nshape", "new shape", 11)] + err
        free = width - SCROLLBAR - 2 * PAD * (len(fixed) + 2) - sum(w for _, _, w in fixed)
        name = max(8, free // 2)
        return [fixed[0], fixed[1], ("oname", "old layer", name), fixed[2], fixed[3], ("nname", "new layer", name),
                fixed[4], fixed[5]] + err
    fixed = [("idx", "#", idx), ("st", "", 1), ("kind", "kind", 12), ("shape", "out shape", 11)] + err
    free = width - SCROLLBAR - 2 * PAD * (len(fixed) + 1) - sum(w for _, _, w in fixed)
    if free < 14:  # very narrow: give the kind column's room to the name
        fixed = [c for c in fixed if c[0] != "kind"]
        free += 12 + 2 * PAD
    return [fixed[0], fixed[1], ("layer", "layer (old→new)", max(8, free))] + fixed[2:]


def cells(row: Row, analysis: Analysis, isolated: bool, cols: list[tuple[str, str, int]]) -> tuple[Text, ...]:
    """The row's cells for `cols`, each cut to its column width."""
    first = render.is_first(analysis, row)
    mx, rel = render.error_cells(row, isolated)
    values = {
        "idx": Text(("▶" if first else " ") + str(row.index), style="bold red" if first else "dim"),
        "st": render.glyph(row.status),
        "layer": render.layer_text(row),
        "kind": render.kind_text(row),
        "shape": render.shape_text(row),
        "oname": Text(render.side_name(row.old)),
        "nname": Text(render.side_name(row.new)),
        "okind": Text(render.safe(row.old.kind) if row.old else "—"),
        "nkind": Text(render.safe(row.new.kind) if row.new else "—"),
        "oshape": Text(render.shape(row.old.shape) if row.old else "—"),
        "nshape": Text(render.shape(row.new.shape) if row.new else "—"),
        "max": mx,
        "rel": rel,
    }
    out = []
    for key, _, width in cols:
        text = render.fit(values[key], width)
        if first and key in ("layer", "oname", "nname"):
            text.stylize("bold")
        if key in ("max", "rel"):
            text = Text(" " * max(0, width - len(text.plain))) + text
        out.append(text)
    return tuple(out)


class LayerTable(DataTable):
    """The layer list. `show(analysis, isolated)` draws it; the cursor row is the selected pair."""

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", cell_padding=PAD, zebra_stripes=False, **kwargs)
        self.analysis: Analysis | None = None
        self.isolated = False
        self._cols: list[tuple[str, str, int]] = []
        self._cells: dict[int, tuple[Text, ...]] = {}
        self._order: list[int] = []

    def show(self, analysis: Analysis, isolated: bool) -> None:
        self.analysis, self.isolated = analysis, isolated
        cols = columns(self.size.width or 80, isolated, len(analysis.rows))
        order = [r.index for r in analysis.rows]
        if cols != self._cols or order[:len(self._order)] != self._order:
            self._rebuild(cols)
            return
        for row in analysis.rows:
            new = cells(row, analysis, isolated, cols)
            old = self._cells.get(row.index)
            if old is None:
                self.add_row(*new, key=str(row.index))
                self._order.append(row.index)
            elif old != new:
                for (key, _, _), a, b in zip(cols, old, new):
                    if a != b:
                        self.update_cell(str(row.index), key, b)
            self._cells[row.index] = new

    def _rebuild(self, cols: list[tuple[str, str, int]]) -> None:
        cursor = self.cursor_row
        self.clear(columns=True)
        self._cols = cols
        for key, label, width in cols:
            self.add_column(Text(label, justify="right" if key in ("max", "rel") else "left"), width=width, key=key)
        self._cells, self._order = {}, []
        if self.analysis is None:
            return
        rows = self.analysis.rows
        if cursor == 0 and len(rows) > self.app.size.height:
            # A big model: the rows a screen can show now, the rest once this frame is drawn (each row is measured
            # as it is added, which would hold up the first frame by a few ms per 100 rows).
            rows = rows[:self.app.size.height]
            self.call_after_refresh(self._complete)
        for row in rows:
            c = cells(row, self.analysis, self.isolated, cols)
            self.add_row(*c, key=str(row.index))
            self._cells[row.index] = c
            self._order.append(row.index)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), scroll=False)

    def _complete(self) -> None:
        """Add the rows `_rebuild` left for later (`show` appends what is missing)."""
        if self.analysis is not None and len(self._order) < len(self.analysis.rows):
            self.show(self.analysis, self.isolated)

    def on_resize(self) -> None:
        if self.analysis is not None:
            cols = columns(self.size.width, self.isolated, len(self.analysis.rows))
            if cols != self._cols:
                self._rebuild(cols)

    def reset(self) -> None:
        self.analysis = None
        self._cols = []
        self.clear(columns=True)

    def selected_row(self) -> Row | None:
        """The Row under the cursor."""
        if self.analysis is None or not self.row_count or not 0 <= self.cursor_row < len(self.analysis.rows):
            return None
        return self.analysis.rows[self.cursor_row]

    def select_index(self, index: int) -> None:
        """Move the cursor to the row whose Row.index is `index`."""
        if str(index) not in self.rows:
            self._complete()
        if str(index) in self.rows:
            self.move_cursor(row=self.get_row_index(str(index)))
