"""Provides `SearchBar`: the `/` prompt that finds layer names (either side, case-insensitive) as you type."""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.widgets import Input

from kstep.analysis import Analysis
from kstep.tui import render


def find_row(analysis: Analysis | None, text: str, start: int) -> int | None:
    """The first row from `start` on (wrapping) with a layer name (key or name, either side) containing `text`."""
    if analysis is None or not text:
        return None
    needle = text.lower()
    rows = analysis.rows
    for k in range(len(rows)):
        row = rows[(start + k) % len(rows)]
        names = [s.key for s in (row.old, row.new) if s is not None]
        names += [s.name for s in (row.old, row.new) if s is not None]
        if any(needle in render.safe(n).lower() or needle in n.lower() for n in names):
            return (start + k) % len(rows)
    return None


class SearchBar(Input):
    """Hidden until `/`; enter moves to the next match; esc posts `Closed` (the screen hides the bar)."""

    BINDINGS = [("escape", "close", "close search")]

    class Closed(Message):
        """esc in the search bar."""

    def __init__(self, **kwargs: Any):
        super().__init__(placeholder="search layer names (enter: next match, esc: close)", **kwargs)

    def action_close(self) -> None:
        self.post_message(self.Closed())
