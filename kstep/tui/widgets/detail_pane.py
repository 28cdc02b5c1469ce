"""Provides `DetailPane`: the selected pair in five tabs — Summary, Config, Weights, Activations, Diagnosis.

The pane's title names the pair; only the visible tab is rendered (the Activations tab may need the arrays).
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import TabbedContent, TabPane

from kstep.analysis import Analysis, Row
from kstep.tui import render
from kstep.tui.widgets.activations_view import ActivationsView
from kstep.tui.widgets.config_view import ConfigView
from kstep.tui.widgets.diagnosis_view import DiagnosisView
from kstep.tui.widgets.summary_view import SummaryView
from kstep.tui.widgets.weights_view import WeightsView

TABS = (("summary", "Summary"), ("config", "Config"), ("weights", "Weights"), ("activations", "Activations"),
        ("diagnosis", "Diagnosis"))


class DetailPane(Vertical):
    """Tabs for the selected pair; `show` redraws the visible tab."""

    def __init__(self, accessor: Callable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.accessor = accessor
        self.analysis: Analysis | None = None
        self.row: Row | None = None
        self.isolated = False

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            for tab_id, title in TABS:
                with TabPane(title, id=tab_id):
                    with VerticalScroll(classes="tab-scroll"):
                        if tab_id == "activations":
                            yield ActivationsView(self.accessor, id="view-activations", classes="view")
                        else:
                            cls = {"summary": SummaryView, "config": ConfigView, "weights": WeightsView,
                                   "diagnosis": DiagnosisView}[tab_id]
                            yield cls(id=f"view-{tab_id}", classes="view")

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    def cycle(self, step: int) -> None:
        ids = [t for t, _ in TABS]
        tabs = self.query_one(TabbedContent)
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)] if tabs.active in ids else ids[0]

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool) -> None:
        self.analysis, self.row, self.isolated = analysis, row, isolated
        self.border_title = Text(render.row_label(row)) if row is not None else Text("detail")
        self.refresh_active()

    def refresh_active(self) -> None:
        active = self.active or "summary"
        if active == "activations":
            self.query_one(ActivationsView).show(self.row, self.isolated)
        else:
            self.query_one(f"#view-{active}").show(self.analysis, self.row, self.isolated)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_active()

    def forget_arrays(self) -> None:
        self.query_one(ActivationsView).forget()

    def activations(self) -> ActivationsView:
        return self.query_one(ActivationsView)
