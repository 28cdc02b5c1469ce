"""Provides `DetailPane`: the selected pair in five tabs — Summary, Config, Weights, Activations, Diagnosis.

The pane's title names the pair; only the visible tab is rendered (the Activations tab may need the arrays).
The tabs are mounted by `mount_tabs`, which the screen calls once the app's first frame is on the terminal:
mounting a TabbedContent takes about 0.1 s, which would hold up the first screen. Until then the pane shows its
border and title only, and every method below is a no-op.
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from kstep.analysis import Analysis, Row
from kstep.tui import render
from kstep.tui.widgets.activations_view import ActivationsView
from kstep.tui.widgets.config_view import ConfigView
from kstep.tui.widgets.diagnosis_view import DiagnosisView
from kstep.tui.widgets.summary_view import SummaryView
from kstep.tui.widgets.weights_view import WeightsView

TABS = (("summary", "Summary"), ("config", "Config"), ("weights", "Weights"), ("activations", "Activations"),
        ("diagnosis", "Diagnosis"))
ROW_VIEWS = (SummaryView, ConfigView, WeightsView, DiagnosisView)
"""The tabs drawn from the analysis alone: `show(analysis, row, isolated)` (Activations fetches arrays instead)."""


class DetailPane(Vertical):
    """Tabs for the selected pair; `show` redraws the visible tab."""

    def __init__(self, accessor: Callable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.accessor = accessor
        self.analysis: Analysis | None = None
        self.row: Row | None = None
        self.isolated = False
        self.sample: int | None = None  # the sample in view (absolute index), for the Activations tab
        self._mounting = False

    def mount_tabs(self) -> None:
        """Mount the tabs (once); the first tab's activation then draws the selected pair."""
        if self.tabs() is not None or self._mounting:
            return
        self._mounting = True
        tabs = TabbedContent(id="tabs")
        views = {"summary": SummaryView, "config": ConfigView, "weights": WeightsView, "diagnosis": DiagnosisView}
        for tab_id, title in TABS:
            view: Static
            if tab_id == "activations":
                view = ActivationsView(self.accessor, id="view-activations", classes="view")
            else:
                view = views[tab_id](id=f"view-{tab_id}", classes="view")
            tabs.compose_add_child(TabPane(title, VerticalScroll(view, classes="tab-scroll"), id=tab_id))
        self.call_later(self._mount_tabs, tabs)

    async def _mount_tabs(self, tabs: TabbedContent) -> None:
        await self.mount(tabs)
        self.refresh_active()

    def tabs(self) -> TabbedContent | None:
        """The tabs, once mounted."""
        return next(iter(self.query(TabbedContent)), None)

    @property
    def active(self) -> str:
        tabs = self.tabs()
        return tabs.active if tabs is not None else ""

    def cycle(self, step: int) -> None:
        ids = [t for t, _ in TABS]
        tabs = self.tabs()
        if tabs is not None:
            tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)] if tabs.active in ids else ids[0]

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool, sample: int | None = None) -> None:
        self.analysis, self.row, self.isolated, self.sample = analysis, row, isolated, sample
        self.border_title = Text(render.row_label(row)) if row is not None else Text("detail")
        self.refresh_active()

    def refresh_active(self) -> None:
        if self.tabs() is None:
            return
        active = self.active or "summary"
        view = next(iter(self.query(f"#view-{active}")), None)  # None while the tabs are being mounted
        if isinstance(view, ActivationsView):
            view.show(self.row, self.isolated, self.sample, self.analysis.samples if self.analysis else None)
        elif isinstance(view, ROW_VIEWS):
            view.show(self.analysis, self.row, self.isolated)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_active()  # also when the tabs are mounted: the first tab is activated then

    def forget_arrays(self) -> None:
        view = self.activations()
        if view is not None:
            view.forget()

    def activations(self) -> ActivationsView | None:
        return next(iter(self.query(ActivationsView)), None)
