"""Provides `FileHeader`: the two compared files, their writers and backends, and the facts kstep assumed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis
from kstep.tui import render


class FileHeader(Static):
    """Two lines: OLD file · writer · backend · assumed facts; the same for NEW."""

    def show(self, analysis: Analysis | None) -> None:
        if analysis is None:
            self.update(Text("loading models…", style="dim"))
            return
        lines = Text("\n").join([render.file_line("OLD", analysis.old), render.file_line("NEW", analysis.new)])
        lines.no_wrap = True
        self.update(lines)
