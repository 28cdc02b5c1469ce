"""Provides `SearchBar`: the `/` prompt that finds layer names (either side, case-insensitive) as you type."""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.widgets import Input


class SearchBar(Input):
    """Hidden until `/`; enter moves to the next match; esc posts `Closed` (the screen hides the bar)."""

    BINDINGS = [("escape", "close", "close search")]

    class Closed(Message):
        """esc in the search bar."""

    def __init__(self, **kwargs: Any):
        super().__init__(placeholder="search layer names (enter: next match, esc: close)", **kwargs)

    def action_close(self) -> None:
        self.post_message(self.Closed())
