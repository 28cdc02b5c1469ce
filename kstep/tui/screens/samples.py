"""Provides `SamplesScreen` (`S`): the per-sample verdicts of the analysis, worst final max |Δ| first — sample
index, agree (=) or differ (✗), max |Δ| at the final outputs, top-1 of each side and whether it flipped, whether
the top-5 set changed (where the output is a distribution), and the first divergent row's layer name. enter
dismisses with the chosen sample (the main screen puts it in view); esc or S closes; j k g G move as in the
layer table. Reads the Analysis only; the
order and the summary line are the reports' (kstep.report.samples)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Static

from kstep.analysis import Analysis, SampleVerdict
from kstep.report.samples import summary_line, worst_verdicts
from kstep.tui import render


def first_layer(analysis: Analysis, v: SampleVerdict) -> str:
    """The name of the row where this sample's propagated comparison first fails ('—' when none does)."""
    if v.first_row is None or not 0 <= v.first_row < len(analysis.rows):
        return "—"
    return render.row_label(analysis.rows[v.first_row])


def verdict_cells(analysis: Analysis, v: SampleVerdict, in_view: bool) -> list[Text]:
    """One table row: ▸ when in view, sample, = / ✗, max |Δ|, top-1 old→new (flip), top-5, first divergence."""
    mark = Text("▸" if in_view else " ", style="bold")
    agree = Text("=", style="green") if v.outputs_agree else Text("✗", style="bold red")
    top1 = Text("—", style="dim")
    if v.top1_old is not None:
        top1 = Text(f"{v.top1_old}→{v.top1_new}")
        if v.top1_flipped:
            top1.append(" flip", style="bold red")
    top5 = Text("—", style="dim") if v.top5_old is None else (
        Text("changed", style="bold red") if v.top5_changed else Text("same"))
    delta = Text("—" if v.max_abs is None else render.num(v.max_abs), style="" if v.outputs_agree else "bold")
    return [mark, Text(str(v.sample)), agree, delta, top1, top5, Text(first_layer(analysis, v))]


class SamplesScreen(Screen):
    """The Samples view; dismisses with the sample chosen (enter) or None (esc, S)."""

    BINDINGS = [("escape,S", "close", "close"), ("j", "move(1)", "down"), ("k", "move(-1)", "up"),
                ("g", "move(-1000000000)", "first"), ("G", "move(1000000000)", "last")]

    def __init__(self, analysis: Analysis, in_view: int | None):
        super().__init__()
        self.analysis, self.in_view = analysis, in_view

    def compose(self) -> ComposeResult:
        a = self.analysis
        n = a.samples.count
        head = Text.assemble(("samples ", "bold"), f"{len(a.verdicts)} of {n}, worst final max|Δ| first  ",
                             (summary_line(a) if a.verdicts else "", "dim"), no_wrap=True, overflow="ellipsis")
        yield Static(head, id="samples-head")
        table: DataTable = DataTable(id="samples-table", cursor_type="row", zebra_stripes=False)
        table.display = bool(a.verdicts)
        yield table
        if not a.verdicts:
            why = ("per-sample verdicts appear once every sample is compared" if not a.complete else
                   "no per-sample verdicts: the final outputs were not compared")
            yield Static(Text(why, style="dim"), id="samples-empty")
        yield Static(Text.assemble((" ⏎ ", "bold reverse"), " view this sample  ", (" esc ", "bold reverse"),
                                   " back  ", (" q ", "bold reverse"), " quit"), id="samples-keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("", "sample", "", "max|Δ|", "top-1 old→new", "top-5", "first divergence"):
            table.add_column(label)
        cursor = 0
        for k, v in enumerate(worst_verdicts(self.analysis, len(self.analysis.verdicts))):
            table.add_row(*verdict_cells(self.analysis, v, v.sample == self.in_view), key=str(v.sample))
            if v.sample == self.in_view:
                cursor = k
        if table.row_count:
            table.move_cursor(row=cursor)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.dismiss(int(event.row_key.value))

    def action_move(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, min(table.cursor_row + step, table.row_count - 1)))

    def action_close(self) -> None:
        self.dismiss(None)
