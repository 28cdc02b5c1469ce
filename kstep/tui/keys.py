"""Provides KEYS, the one table of the app's keys: the bindings, the footer line and the ? help screen come from it.

Each entry is one binding: the keys (comma-separated Textual key names), the action, the footer key and label, the
help text, and the footer priority (lower shows first when the terminal is narrow; None keeps it out of the
footer). An entry with a `label` starts a row of the help screen (label: the key column; help: the line); the
entries after it without one are its secondary keys, already described by that line. HELP_ROWS is derived.
No Textual here: the CLI and the tests read the table without the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.errors import ExitCode


@dataclass(frozen=True)
class Key:
    """One binding; see the module docstring. app: bound by the app (every screen) rather than the main screen;
    first: the binding goes before the focused widget's own (tab would otherwise move the focus)."""

    keys: str
    action: str
    display: str
    short: str
    help: str
    priority: int | None = None
    label: str | None = None
    app: bool = False
    first: bool = False


KEYS: tuple[Key, ...] = (
    Key("j,down", "move(1)", "j/k", "move", "select the next / previous layer pair", 10, label="j k ↓ ↑"),
    Key("k,up", "move(-1)", "k", "", "select the previous layer pair"),
    Key("pagedown", "move(10)", "PgDn", "", "ten rows down / up; first / last row", label="PgDn PgUp g G"),
    Key("pageup", "move(-10)", "PgUp", "", "ten rows up"),
    Key("home,g", "move_to('top')", "g", "", "first row"),
    Key("end,G", "move_to('bottom')", "G", "", "last row"),
    Key("enter", "toggle_detail", "⏎", "detail", "open / close the detail pane (esc closes it)", 1, label="enter"),
    Key("n", "next_divergence(1)", "n/N", "✗", "next / previous row that diverges, mismatches or is unsupported", 2,
        label="n N"),
    Key("N", "next_divergence(-1)", "N", "", "previous divergence"),
    Key("f", "first_divergence", "f", "first", "jump to the first divergence", 3, label="f"),
    Key("tab", "cycle_tab(1)", "tab", "pane", "next / previous detail tab", 9, label="tab shift+tab", first=True),
    Key("shift+tab", "cycle_tab(-1)", "⇧tab", "", "previous detail tab", first=True),
    Key("left_square_bracket", "channel(-1)", "[ ]", "", "Activations tab: channel; the sample in view (any of "
        "the N, computed on demand when not kept); the row of a feature map", label="[ ] { } ( )"),
    Key("right_square_bracket", "channel(1)", "]", "", "Activations: next channel"),
    Key("left_curly_bracket", "sample(-1)", "{ }", "", "previous sample in view"),
    Key("right_curly_bracket", "sample(1)", "}", "", "next sample in view"),
    Key("left_parenthesis", "position(-1)", "( )", "", "Activations: previous row of a feature map"),
    Key("right_parenthesis", "position(1)", ")", "", "Activations: next row of a feature map"),
    Key("S", "samples", "S", "samples", "per-sample verdicts, worst final |Δ| first (enter: view that sample)", None,
        label="S"),
    Key("i", "toggle_isolated", "i", "iso", "propagated ⇄ isolated errors (NEW's layer fed OLD's inputs; for rows "
        "and samples the comparison did not need them, computed with progress once it is done)", 4, label="i"),
    Key("t", "tolerance", "t", "tol", "set atol / rtol and judge again (a re-run with progress unless every sample "
        "is kept)", 5, label="t"),
    Key("slash", "search", "/", "find", "search layer names (enter: next match, esc: close)", 6, label="/"),
    Key("e", "export", "e", "export", "export the first-divergence report (md / json / html)", 7, label="e"),
    Key("x", "fix", "x", "fix", "kstep fix: write FIXED, then compare OLD with FIXED", None,
        label="x"),
    Key("s", "step", "s/c/r", "step", "step: compute the next layer, then pause", 8, label="s"),
    Key("c", "continue", "c", "", "continue to the next divergence, then pause", label="c"),
    Key("r", "restart", "r", "", "restart the analysis from the first layer", label="r"),
    Key("question_mark", "help", "?", "help", "this help (esc or ? closes it)", 0, label="?"),
    Key("q", "quit", "q", "quit", f"quit, exit status {ExitCode.OK:d} (ctrl+c: exit status "
        f"{ExitCode.INTERRUPTED:d})", 0, label="q", app=True),
    Key("ctrl+c", "interrupt", "^c", "", f"quit with exit status {ExitCode.INTERRUPTED:d}", app=True, first=True),
)

HELP_ROWS: tuple[tuple[str, str], ...] = tuple((k.label, k.help) for k in KEYS if k.label is not None)
"""The help screen's rows, (key column, text): each key once, its secondary keys folded into its line."""
