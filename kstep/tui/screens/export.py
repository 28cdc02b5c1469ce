"""Provides `ExportDialog` (`e`): report format and output path; dismisses with (format, path) or None.

The format follows the path's suffix when one is typed (report.json -> json), and the path's suffix follows the
format when one is picked.
"""

from __future__ import annotations

import os
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from kstep.analysis import Analysis
from kstep.errors import KstepError
from kstep.tui.messages import ExportFinished


def write_report(export: Callable[[Analysis, str, str], None], analysis: Analysis, fmt: str,
                 path: str) -> ExportFinished:
    """Run the export (in a worker): the message saying it wrote `path`, or why it could not."""
    try:
        export(analysis, fmt, path)
    except (KstepError, OSError) as exc:
        return ExportFinished(path, exc.line() if isinstance(exc, KstepError) else f"{path}: {exc.strerror or exc}")
    return ExportFinished(path)


class ExportDialog(ModalScreen):
    """Pick a format (tab to the list, ←/→ or ↑/↓ to move, space to choose), type a path, enter writes."""

    BINDINGS = [("escape", "cancel", "cancel")]

    def __init__(self, formats: tuple[str, ...], path: str):
        super().__init__()
        self.formats = formats
        self.path = path

    def _fmt_of(self, path: str) -> str | None:
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        ext = {"markdown": "md", "htm": "html"}.get(ext, ext)
        return ext if ext in self.formats else None

    def compose(self) -> ComposeResult:
        fmt = self._fmt_of(self.path) or self.formats[0]
        with Vertical(id="export-box", classes="dialog") as box:
            box.border_title = "export the first-divergence report"
            box.border_subtitle = "enter writes · esc cancels"
            with Horizontal(classes="field"):
                yield Label("path   ")
                yield Input(self.path, id="path")
            with Horizontal(classes="field"):
                yield Label("format ")
                with RadioSet(id="format"):
                    for f in self.formats:
                        yield RadioButton(f, value=(f == fmt), id=f"fmt-{f}")
            yield Static(Text("the same writer as `kstep report`", style="dim"), id="export-note")

    def selected(self) -> str:
        button = self.query_one(RadioSet).pressed_button
        return str(button.label) if button is not None else self.formats[0]

    def on_input_changed(self, event: Input.Changed) -> None:
        fmt = self._fmt_of(event.value)
        if fmt is not None and fmt != self.selected():
            self.query_one(f"#fmt-{fmt}", RadioButton).value = True

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        fmt = str(event.pressed.label)
        field = self.query_one("#path", Input)
        if self._fmt_of(field.value) not in (None, fmt):
            field.value = os.path.splitext(field.value)[0] + "." + fmt

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path:
            self.query_one("#export-note", Static).update(Text("type a path", style="bold red"))
            return
        self.dismiss((self.selected(), path))

    def action_cancel(self) -> None:
        self.dismiss(None)
