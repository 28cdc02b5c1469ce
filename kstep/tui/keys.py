"""Provides KEYS, the one table of the app's keys: the bindings, the footer line and the ? help screen come from it.

Each entry: the keys (comma-separated Textual key names), the action, the footer label (short), the help text,
and the footer priority (lower shows first when the terminal is narrow; None keeps it out of the footer).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    keys: str
    action: str
    display: str
    short: str
    help: str
    priority: int | None = None


KEYS: tuple[Key, ...] = (
    Key("j,down", "move(1)", "j/k", "move", "select the next / previous layer pair (also ↓ ↑)", 10),
    Key("k,up", "move(-1)", "k", "", "select the previous layer pair"),
    Key("pagedown", "move(10)", "PgDn", "", "ten rows down (PgUp: up)"),
    Key("pageup", "move(-10)", "PgUp", "", "ten rows up"),
    Key("home,g", "move_to('top')", "g", "", "first row (G or End: last row)"),
    Key("end,G", "move_to('bottom')", "G", "", "last row"),
    Key("enter", "toggle_detail", "⏎", "detail", "open / close the detail pane for the selected pair", 1),
    Key("n", "next_divergence(1)", "n/N", "✗", "next / previous row that diverges, mismatches or is "
        "unsupported", 2),
    Key("N", "next_divergence(-1)", "N", "", "previous divergence"),
    Key("f", "first_divergence", "f", "first", "jump to the first divergence", 3),
    Key("tab", "cycle_tab(1)", "tab", "pane", "next detail tab: Summary, Config, Weights, Activations, "
        "Diagnosis (shift+tab: previous)", 9),
    Key("shift+tab", "cycle_tab(-1)", "⇧tab", "", "previous detail tab"),
    Key("i", "toggle_isolated", "i", "iso", "show isolated errors (NEW's layer fed OLD's inputs) instead of "
        "propagated ones, and back", 4),
    Key("t", "tolerance", "t", "tol", "set atol / rtol and re-judge without re-running the models", 5),
    Key("slash", "search", "/", "find", "search layer names (enter: next match, esc: close)", 6),
    Key("e", "export", "e", "export", "export the first-divergence report (format and path)", 7),
    Key("s", "step", "s/c/r", "step", "step: compute the next layer, then pause", 8),
    Key("c", "continue", "c", "", "continue to the next divergence, then pause"),
    Key("r", "restart", "r", "", "restart the analysis from the first layer"),
    Key("left_square_bracket", "channel(-1)", "[ ]", "", "Activations: previous / next channel"),
    Key("right_square_bracket", "channel(1)", "]", "", "Activations: next channel"),
    Key("left_curly_bracket", "position(-1)", "{ }", "", "Activations: previous / next sample or position"),
    Key("right_curly_bracket", "position(1)", "}", "", "Activations: next sample or position"),
    Key("question_mark", "help", "?", "help", "this help", 0),
    Key("q", "quit", "q", "quit", "quit (exit 0); ctrl+c quits with exit 130", 0),
)

# The help screen lists each key once; secondary entries (empty short, already described) are folded in.
HELP_ROWS: tuple[tuple[str, str], ...] = (
    ("j k ↓ ↑", "select the next / previous layer pair"),
    ("PgDn PgUp g G", "ten rows down / up; first / last row"),
    ("enter", "open / close the detail pane (esc closes it)"),
    ("n N", "next / previous row that diverges, mismatches or is unsupported"),
    ("f", "jump to the first divergence"),
    ("tab shift+tab", "next / previous detail tab"),
    ("[ ] { }", "Activations tab: channel; sample or position"),
    ("i", "propagated ⇄ isolated errors (NEW's layer fed OLD's inputs)"),
    ("t", "set atol / rtol and re-judge without re-running the models"),
    ("/", "search layer names (enter: next match, esc: close)"),
    ("e", "export the first-divergence report (md / json / html)"),
    ("s", "step: compute the next layer, then pause"),
    ("c", "continue to the next divergence, then pause"),
    ("r", "restart the analysis from the first layer"),
    ("?", "this help (esc or ? closes it)"),
    ("q", "quit, exit status 0 (ctrl+c: exit status 130)"),
)
