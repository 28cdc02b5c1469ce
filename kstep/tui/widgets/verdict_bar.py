"""Provides `VerdictBar`: the line that always says where the models first part (or that they agree), plus the
progress of a running analysis (or of a re-run for a new tolerance) and the current modes (isolated, paused, the
sample in view once the user chose one of several)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from kstep.analysis import Analysis
from kstep.tui import render
from kstep.tui.messages import Progress


class VerdictBar(Horizontal):
    """verdict text | progress bar (while running) | mode flags."""

    def compose(self) -> ComposeResult:
        yield Static(Text("starting…", style="dim"), id="verdict-text")
        yield Static("", id="run-state")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="progress")
        yield Static("", id="mode-flags")

    def show(self, analysis: Analysis | None, progress: Progress | None, running: bool, paused: bool,
             isolated: bool, error: str | None = None, sample: int | None = None, rejudging: bool = False) -> None:
        text = self.query_one("#verdict-text", Static)
        if error is not None:
            text.update(Text.assemble(("ERROR ", "bold red"), render.safe(error)))
        elif analysis is not None:
            text.update(render.verdict(analysis))
        bar = self.query_one("#progress", ProgressBar)
        state = self.query_one("#run-state", Static)
        bar.display = running
        state.display = running
        if running:
            if progress is not None and progress.total:
                bar.update(total=progress.total, progress=progress.done)
                label = f" {render.safe(progress.phase)} {progress.done}/{progress.total}"
            else:
                label = " running"
            if rejudging:
                label = " re-judging:" + label
            state.update(Text(label + (" paused" if paused else ""), style="bold" if paused else ""))
        flags = []
        if sample is not None and analysis is not None and analysis.samples.count > 1:
            flags.append((f"sample {sample}", "bold"))
        if isolated:
            flags.append(("isolated", "bold cyan"))
        self.query_one("#mode-flags", Static).update(
            Text.assemble(*[(f" [{f}]", s) for f, s in flags]) if flags else Text(""))
