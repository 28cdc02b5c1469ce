"""Provides `KeyBar`, the footer: the most useful keys that fit the width, always ending with ? help and q quit.

Built from kstep.tui.keys.KEYS (the same table as the bindings and the help screen).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kstep.tui.keys import KEYS


def key_line(width: int) -> Text:
    """The footer for a terminal `width` cells wide."""
    shown = sorted((k for k in KEYS if k.priority), key=lambda k: k.priority or 0)
    tail = [k for k in KEYS if k.priority == 0]
    parts = []
    used = sum(len(k.display) + len(k.short) + 2 for k in tail)
    for k in shown:
        cost = len(k.display) + len(k.short) + 2
        if used + cost > width - 1:
            continue
        parts.append(k)
        used += cost
    line = Text(no_wrap=True, overflow="crop")
    for k in parts + tail:
        line.append(" ")
        line.append(k.display, style="bold reverse")
        line.append(" " + k.short)
    return line


class KeyBar(Static):
    """One line of keys, re-laid out when the terminal is resized."""

    def render(self):
        return key_line(self.size.width or 80)
