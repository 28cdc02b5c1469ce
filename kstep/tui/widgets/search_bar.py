"""Provides `SearchBar`: the `/` prompt that finds layer names (either side, case-insensitive) as you type."""

from __future__ import annotations

from textual.widgets import Input


class SearchBar(Input):
    """Hidden until `/`; enter moves to the next match, esc closes (handled by the screen)."""

    BINDINGS = [("escape", "close", "close search")]

    def __init__(self, **kwargs):
        super().__init__(placeholder="search layer names (enter: next match, esc: close)", **kwargs)

    def action_close(self) -> None:
        self.screen.close_search()
