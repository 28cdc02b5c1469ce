"""Provides `HelpScreen` (`?`): every key, and what each status glyph means."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kstep.analysis import STATUSES
from kstep.tui import render
from kstep.tui.keys import HELP_ROWS


def help_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for keys, what in HELP_ROWS:
        table.add_row(Text(keys), Text(what))
    legend = Text()
    for status in STATUSES:
        legend.append_text(render.glyph(status))
        legend.append(f" {status}  ")
    table.add_row(Text("glyphs"), legend)
    return table


class HelpScreen(ModalScreen):
    """The key reference; esc, q or ? closes it."""

    BINDINGS = [("escape,q,question_mark", "close", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "kstep keys"
            box.border_subtitle = "esc closes"
            yield Static(help_table())

    def action_close(self) -> None:
        self.dismiss(None)
