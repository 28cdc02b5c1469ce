"""Provides `MainScreen`: the files, the verdict line, the error along depth, the layer table, the tabs, the key bar.

It owns the analysis worker (a thread pulling snapshots from the compare side through a `runner.Gate`; `t` restarts
it on the re-judging source, so a re-run shows its progress like the first run), applies each snapshot, selects the
first divergence once the analysis reaches it, keeps the sample in view (`{ }`, the Samples view `S`) and runs every
key's action (x's dialog: kstep.tui.screens.fix).
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Callable, ClassVar, Iterable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Input
from textual.worker import get_current_worker

from kstep.analysis import Analysis
from kstep.errors import KstepError
from kstep.options import DEFAULT_RTOL, MIN_ATOL
from kstep.tui import render
from kstep.tui.keys import KEYS
from kstep.tui.messages import AnalysisFailed, AnalysisUpdated, ExportFinished, Progress
from kstep.tui.runner import BREAK_STATUSES, CONTINUE, STEP, Gate, Mode, drive
from kstep.tui.screens.export import ExportDialog, write_report
from kstep.tui.screens.fix import open_fix
from kstep.tui.screens.help import HelpScreen
from kstep.tui.screens.samples import SamplesScreen
from kstep.tui.screens.tolerance import ToleranceDialog
from kstep.tui.widgets.depth_sparkline import DepthSparkline
from kstep.tui.widgets.detail_pane import DetailPane
from kstep.tui.widgets.file_header import FileHeader
from kstep.tui.widgets.key_bar import KeyBar
from kstep.tui.widgets.layer_table import LayerTable
from kstep.tui.widgets.search_bar import SearchBar, find_row
from kstep.tui.widgets.verdict_bar import VerdictBar

if TYPE_CHECKING:
    from kstep.tui.app import AppConfig

FIRST_FRAME_WAIT = 0.5


class MainScreen(Screen):
    """The debugger's one working screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(k.keys, k.action, k.short or k.help, show=False, priority=k.first) for k in KEYS if not k.app),
        Binding("escape", "escape", "close", show=False)]

    def __init__(self, config: AppConfig):
        super().__init__()
        self.config = config
        self.raw: Analysis | None = None  # as the compare side sent it
        self.analysis: Analysis | None = None  # as shown (re-judged when the user set a tolerance)
        self.progress: Progress | None = None
        self.running, self.paused = True, False
        self.error: str | None = None
        self.isolated = False
        self.tolerance: tuple[float, float] | None = None
        self.rejudging: int | None = None  # the generation of the run `t` started, until its final snapshot
        self.sample: int | None = None  # the sample in view (absolute index) once chosen; else `sample_in_view`
        self.isolating: int | None = None  # the generation of the run `i` started (every row's isolated errors)
        self.iso_filled: Analysis | None = None  # the analysis that run produced
        self.generation = 0
        self.gate: Gate | None = None
        self.auto_selected: int | None = None
        self.user_moved = False

    def compose(self) -> ComposeResult:
        yield FileHeader(id="files")
        yield VerdictBar(id="verdict")
        yield DepthSparkline(id="depth")
        yield LayerTable(id="layers")
        yield DetailPane(self.config.activations, id="detail")
        yield SearchBar(id="search")
        yield KeyBar(id="keys")

    def on_unmount(self) -> None:
        if self.gate is not None:
            self.gate.cancel()

    def on_mount(self) -> None:
        self.query_one(FileHeader).show(None)
        self.query_one(LayerTable).focus()
        if self.config.initial is not None:
            self.apply(self.config.initial)
        # What is not needed for the first screen waits until it is on the terminal (the app calls `first_frame`
        # then), or FIRST_FRAME_WAIT seconds at the latest: the detail tabs (slow to mount) and the analysis worker
        # (which competes with this thread for the interpreter).
        self.set_timer(FIRST_FRAME_WAIT, self.first_frame)

    def first_frame(self) -> None:
        """Mount the detail tabs and start the analysis worker, unless done already."""
        self.query_one(DetailPane).mount_tabs()
        if self.gate is None:
            self.start()

    # -- the analysis worker -----------------------------------------------------------------------------------
    def start(self, source: Callable[[], Iterable] | None = None, keep_selection: bool = False) -> None:
        """(Re)start the analysis from its first layer: the app's source, or `source` (t's or i's)."""
        if self.gate is not None:
            self.gate.cancel()
        self.generation += 1
        paused = self.config.start_paused and source is None
        self.gate = Gate(paused=paused)
        self.running, self.paused, self.error, self.progress = True, paused, None, None
        if not keep_selection:
            self.auto_selected, self.user_moved = None, False
        self.user_moved = self.user_moved or keep_selection
        self.run_worker(partial(self._drive, source or self.config.source, self.gate, self.generation), thread=True,
                        exclusive=True, group="analysis", name="analysis")
        self._redraw_bar()

    def _drive(self, source: Callable[[], Iterable], gate: Gate, generation: int) -> None:
        def post(analysis, progress, paused, final):
            self.post_message(AnalysisUpdated(analysis, Progress(*progress) if progress else None, paused, final,
                                              generation))

        worker = get_current_worker()
        try:
            drive(source, gate, post, is_cancelled=lambda: worker.is_cancelled)
        except KstepError as exc:
            self.post_message(AnalysisFailed(exc.line(), generation))

    def on_analysis_updated(self, message: AnalysisUpdated) -> None:
        if message.generation != self.generation:
            return
        self.progress, self.paused = message.progress, message.paused
        # i's pass runs over a complete analysis: it is running until its final snapshot
        self.running = not message.final and (not message.analysis.complete or message.generation == self.isolating)
        self.raw = message.analysis
        self.apply(message.analysis)
        if message.final and self.isolating == message.generation:
            self.iso_filled, self.isolating = message.analysis, None
        if message.final and self.rejudging == message.generation and self.tolerance is not None:
            self.rejudging = None
            self._say(f"judged again with atol {self.tolerance[0]:g}, rtol {self.tolerance[1]:g}", timeout=3)
        if message.final:
            self._fill_isolated()  # a new analysis while the isolated view is on (t, r, or i during the run)

    def on_analysis_failed(self, message: AnalysisFailed) -> None:
        if message.generation == self.generation:
            self.error, self.running = message.error, False
            self._redraw_bar()
            self._say(message.error, title="analysis failed", severity="error", timeout=10)

    def apply(self, analysis: Analysis) -> None:
        """Show `analysis`: table, header, verdict; select the first divergence when it is first reached."""
        first_load = self.analysis is None or self.analysis.old is not analysis.old
        self.analysis = analysis
        if first_load:
            self.query_one(FileHeader).show(analysis)
        table = self.query_one(LayerTable)
        table.show(analysis, self.isolated)
        self.query_one(DetailPane).forget_arrays()
        first = render.first_row(analysis)
        if first is not None and (self.auto_selected is None or (not self.user_moved and first != self.auto_selected)):
            self.auto_selected = first
            table.select_index(first)
        self._redraw_bar()
        self._redraw_detail()

    def _redraw_bar(self) -> None:
        self.query_one(VerdictBar).show(self.analysis, self.progress, self.running, self.paused, self.isolated,
                                        self.error, self.sample, self.rejudging is not None)

    def _redraw_detail(self) -> None:
        row = self.query_one(LayerTable).selected_row()
        self.query_one(DepthSparkline).show(self.analysis, row)
        self.query_one(DetailPane).show(self.analysis, row, self.isolated, self.sample_in_view())

    def sample_in_view(self) -> int | None:
        """The sample the Activations tab shows (render.sample_in_view)."""
        return render.sample_in_view(self.analysis, self.sample)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._redraw_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_toggle_detail()

    # -- moving --------------------------------------------------------------------------------------------------
    def _goto(self, position: int) -> None:
        table = self.query_one(LayerTable)
        if table.row_count:
            self.user_moved = True
            table.move_cursor(row=max(0, min(position, table.row_count - 1)))

    def action_move(self, step: int) -> None:
        self._goto(self.query_one(LayerTable).cursor_row + step)

    def action_move_to(self, where: str) -> None:
        self._goto(0 if where == "top" else self.query_one(LayerTable).row_count - 1)

    def action_next_divergence(self, step: int) -> None:
        if self.analysis is None:
            return
        rows = self.analysis.rows
        first = render.first_row(self.analysis)
        pos = self.query_one(LayerTable).cursor_row + step
        while 0 <= pos < len(rows):
            if rows[pos].status in BREAK_STATUSES or rows[pos].index == first:
                self._goto(pos)
                return
            pos += step
        self._say("no further divergence" if step > 0 else "no earlier divergence", timeout=2)

    def action_first_divergence(self) -> None:
        first = None if self.analysis is None else render.first_row(self.analysis)
        if first is None:
            self._say("no divergence" + (" so far" if self.running else ""), timeout=2)
            return
        self.user_moved = True
        self.query_one(LayerTable).select_index(first)

    # -- detail pane ---------------------------------------------------------------------------------------------
    def action_toggle_detail(self) -> None:
        self.set_class(not self.has_class("-detail-open"), "-detail-open")
        if self.has_class("-detail-open"):
            pane = self.query_one(DetailPane)
            scroll = next(iter(pane.query(f"#{pane.active} .tab-scroll")), None) if pane.active else None
            if scroll is not None:
                scroll.focus()
        else:
            self.query_one(LayerTable).focus()

    def action_escape(self) -> None:
        if self.has_class("-detail-open"):
            self.action_toggle_detail()

    def action_cycle_tab(self, step: int) -> None:
        self.query_one(DetailPane).cycle(step)

    def action_toggle_isolated(self) -> None:
        self.isolated = not self.isolated
        self._fill_isolated()
        if self.analysis is not None:
            self.query_one(LayerTable).show(self.analysis, self.isolated)
        self._redraw_bar()
        self._redraw_detail()

    def _fill_isolated(self) -> None:
        """In the isolated view of a finished analysis: every row's isolated errors on every sample, where the
        comparison did not need them, computed by the analysis worker with its progress (once per analysis)."""
        a = self.analysis
        if (self.isolated and self.config.isolate is not None and a is not None and a.complete and not self.running
                and a is not self.iso_filled and any(render.isolated_missing(r) for r in a.rows)):
            self.start(self.config.isolate, keep_selection=True)
            self.isolating = self.generation

    def _pick(self, attr: str, step: int) -> None:
        pane = self.query_one(DetailPane)
        view, tabs = pane.activations(), pane.tabs()
        if view is None or tabs is None:
            return
        if pane.active != "activations":
            tabs.active = "activations"
        elif attr == "sample":
            self.view_sample(None, step)
        else:
            view.pick(attr, step)
            pane.refresh_active()

    def action_channel(self, step: int) -> None:
        self._pick("channel", step)

    def action_position(self, step: int) -> None:
        self._pick("position", step)

    def action_sample(self, step: int) -> None:
        self._pick("sample", step)

    def view_sample(self, sample: int | None, step: int = 0) -> None:
        """Put `sample` (or the one `step` after the sample in view, wrapping over all N) in view."""
        if self.analysis is not None:
            self.sample = sample if sample is not None else render.step_sample(self.analysis, self.sample, step)
            self._redraw_bar()
            self._redraw_detail()

    # -- samples view ----------------------------------------------------------------------------------------
    def action_samples(self) -> None:
        if self.analysis is None:
            self._say("nothing to show yet", timeout=2)
            return
        self.app.push_screen(SamplesScreen(self.analysis, self.sample_in_view()), self._sample_chosen)

    def _sample_chosen(self, sample: int | None) -> None:
        tabs = self.query_one(DetailPane).tabs()
        if sample is not None:
            self.view_sample(sample)
            if tabs is not None:
                tabs.active = "activations"

    # -- stepping ------------------------------------------------------------------------------------------------
    def action_step(self) -> None:
        self._request(STEP)

    def action_continue(self) -> None:
        self._request(CONTINUE)

    def _request(self, mode: Mode) -> None:
        if not self.running:
            self._say("the analysis is complete (r restarts it)", timeout=2)
        elif self.gate is not None:
            self.gate.request(mode)
            self.paused = self.paused and mode is not CONTINUE
            self._redraw_bar()

    def action_restart(self, said: str = "analysis restarted") -> None:  # r, and x once it wrote FIXED
        self.query_one(LayerTable).reset()
        self.analysis = self.raw = None
        self.start()
        self._say(said, timeout=2 if said == "analysis restarted" else 6)

    def action_fix(self) -> None:
        open_fix(self)

    # -- tolerance -----------------------------------------------------------------------------------------------
    def action_tolerance(self) -> None:
        if self.config.retolerance is None:
            self._say("re-judging with another tolerance is not available in this build", severity="warning")
            return
        tol = self.analysis.tolerance if self.analysis is not None else None
        atol, rtol = self.tolerance or ((tol.atol, tol.rtol) if tol else (MIN_ATOL, DEFAULT_RTOL))
        self.app.push_screen(ToleranceDialog(atol, rtol), self._tolerance_chosen)

    def _tolerance_chosen(self, result) -> None:
        """Run the analysis again under the new tolerance in the analysis worker (progress in the verdict line)."""
        if result is None:
            return
        self.tolerance = result
        retolerance = self.config.retolerance
        if retolerance is not None:
            self.start(partial(retolerance, *result))
            self.rejudging = self.generation
            self._redraw_bar()

    # -- search --------------------------------------------------------------------------------------------------
    def action_search(self) -> None:
        bar = self.query_one(SearchBar)
        self.add_class("-searching")
        bar.focus()

    def on_search_bar_closed(self, message: SearchBar.Closed) -> None:
        self.remove_class("-searching")
        self.query_one(LayerTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            hit = find_row(self.analysis, event.value, self.query_one(LayerTable).cursor_row)
            if hit is not None:
                self._goto(hit)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        hit = find_row(self.analysis, event.value, self.query_one(LayerTable).cursor_row + 1)
        if hit is None:
            self._say(f"no layer name contains {render.safe(event.value)!r}", timeout=2)
        else:
            self._goto(hit)

    # -- export --------------------------------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.config.export is None:
            self._say("export is not available in this build", severity="warning")
            return
        if self.analysis is None:
            self._say("nothing to export yet", timeout=2)
            return
        self.app.push_screen(ExportDialog(tuple(self.config.export_formats), self.config.export_path),
                             self._export_chosen)

    def _export_chosen(self, result: tuple[str, str] | None) -> None:
        export = self.config.export
        if result is None or export is None:
            return
        if self.analysis is None:  # restarted while the dialog was open
            self._say("nothing to export yet", timeout=2)
            return
        job = partial(write_report, export, self.analysis, *result)
        self.run_worker(lambda: self.post_message(job()), thread=True, group="export", name="export")

    def on_export_finished(self, message: ExportFinished) -> None:
        if message.error:
            self._say(render.safe(message.error), title="export failed", severity="error", timeout=8)
        else:
            self._say(f"wrote {render.safe(os.path.abspath(message.path))}", timeout=4)

    def _say(self, message: str, **kwargs) -> None:
        """A notification whose text is literal (it may hold names from the files)."""
        self.notify(message, markup=False, **kwargs)

    # -- help ----------------------------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())
