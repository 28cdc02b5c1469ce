"""Provides `ToleranceDialog` (`t`): atol and rtol for re-judging the analysis; dismisses with (atol, rtol) or None."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


def parse_tolerance(text: str) -> float:
    """A non-negative finite float ('1e-4', '0.001'); ValueError otherwise."""
    x = float(text.strip())
    if not math.isfinite(x) or x < 0:
        raise ValueError(text)
    return x


class ToleranceDialog(ModalScreen):
    """|old - new| <= atol + rtol·|old|; enter applies, esc cancels."""

    BINDINGS = [("escape", "cancel", "cancel")]

    def __init__(self, atol: float, rtol: float):
        super().__init__()
        self.atol, self.rtol = atol, rtol

    def compose(self) -> ComposeResult:
        with Vertical(id="tol-box", classes="dialog") as box:
            box.border_title = "tolerance"
            box.border_subtitle = "enter applies · esc cancels"
            yield Static(Text("an element agrees when |new - old| <= atol + rtol·|old|"))
            with Horizontal(classes="field"):
                yield Label("atol ")
                yield Input(f"{self.atol:g}", id="atol")
            with Horizontal(classes="field"):
                yield Label("rtol ")
                yield Input(f"{self.rtol:g}", id="rtol")
            yield Static("", id="tol-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "atol":
            self.query_one("#rtol", Input).focus()
            return
        try:
            atol = parse_tolerance(self.query_one("#atol", Input).value)
            rtol = parse_tolerance(self.query_one("#rtol", Input).value)
        except ValueError:
            self.query_one("#tol-error", Static).update(
                Text("atol and rtol must be non-negative numbers, e.g. 1e-5", style="bold red"))
            return
        self.dismiss((atol, rtol))

    def action_cancel(self) -> None:
        self.dismiss(None)
