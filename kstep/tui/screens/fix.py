"""Provides `FixDialog` (`x`): what `kstep fix` will change in NEW's file, FIXED's path (editable; the architecture
JSON's too for a JSON NEW), then the run itself in a worker with its round lines. Dismisses with FIXED's path once
it is written and agrees with OLD (the main screen then compares OLD with FIXED), or None (esc).

A refused path (exit 2: an input, a missing directory, a name NEW's Keras would not read, a format kstep cannot
write) or a remaining divergence (exit 1, nothing written) is shown here and the dialog stays; esc does nothing
while the run is under way (it writes nothing until FIXED, re-read from disk, agrees with OLD).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from kstep.tui import render
from kstep.tui.fixing import FixDone, FixOffer, fix_offer
from kstep.tui.messages import FixFinished, FixProgress

if TYPE_CHECKING:
    from kstep.tui.screens.main import MainScreen

RunFix = Callable[[str, str | None, Callable[[str], None]], FixDone]
"""run(FIXED, architecture JSON or None, progress(line)) -> FixDone (kstep.tui.session.Session.fix)"""

EDITS_SHOWN = 3
LOG_LINES = 4


def what_changes(offer: FixOffer, arch: bool) -> Text:
    """The dialog's text: the verified cause, its edits, and what kstep fix does after them."""
    text = Text()
    text.append("first divergence ", style="dim")
    text.append(render.safe(offer.layer), style="bold")
    text.append(f": {render.safe(offer.cause)}, verified (max|Δ| {render.num(offer.before)} → "
                f"{render.num(offer.after)} with the fix)\n")
    text.append("kstep fix writes into NEW's file:\n")
    for words in offer.edits[:EDITS_SHOWN]:
        text.append(f" • {render.safe(words)}\n")
    if len(offer.edits) > EDITS_SHOWN:
        text.append(f" • … and {len(offer.edits) - EDITS_SHOWN} more\n")
    text.append("then goes on to later divergences, applying every verified in-file fix. FIXED is re-read from "
                "disk and compared with OLD from scratch before it is written; NEW is not modified.", style="dim")
    if arch:
        text.append("\nNEW is an architecture JSON: FIXED is its weights file, and the JSON is written too (a "
                    "config edit needs it; otherwise NEW's, unchanged).", style="dim")
    return text


class FixDialog(ModalScreen):
    """enter writes FIXED (kstep fix in a worker, its rounds shown), esc cancels."""

    BINDINGS = [("escape", "cancel", "cancel")]

    def __init__(self, offer: FixOffer, targets: tuple[str, str | None], run: RunFix):
        super().__init__()
        self.offer, self.targets, self.run_fix = offer, targets, run
        self.running = False
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        path, arch = self.targets
        with Vertical(id="fix-box", classes="dialog") as box:
            box.border_title = Text(f"fix NEW: {render.safe(self.offer.layer)}")
            box.border_subtitle = "enter writes · esc cancels"
            yield Static(what_changes(self.offer, arch is not None), id="fix-what")
            with Horizontal(classes="field"):
                yield Label("FIXED ")
                yield Input(path, id="fix-path")
            if arch is not None:
                with Horizontal(classes="field"):
                    yield Label("JSON  ")
                    yield Input(arch, id="fix-arch")
            yield Static("", id="fix-log")

    def _show(self, lines: list[str], style: str = "") -> None:
        self.shown = (self.shown + lines)[-LOG_LINES:]
        self.query_one("#fix-log", Static).update(Text("\n".join(render.safe(x) for x in self.shown), style=style))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.running:
            return
        path = self.query_one("#fix-path", Input).value.strip()
        arch_field = next(iter(self.query("#fix-arch").results(Input)), None)
        arch = arch_field.value.strip() if arch_field is not None else None
        if not path or arch == "":
            self.shown = []
            self._show(["type a path"], "bold red")
            return
        self.running, self.shown = True, []
        self._show(["running kstep fix: comparing, fixing, comparing again …"])
        self.run_worker(partial(self._work, path, arch), thread=True, group="fix", name="fix")

    def _work(self, path: str, arch: str | None) -> None:
        def progress(line: str) -> None:
            self.post_message(FixProgress(line))

        done = self.run_fix(path, arch, progress)
        self.post_message(FixFinished(done))

    def on_fix_progress(self, message: FixProgress) -> None:
        self._show([message.line])

    def on_fix_finished(self, message: FixFinished) -> None:
        self.running = False
        done = message.done
        if done.written is not None:
            self.dismiss(done.written)
            return
        if done.error is not None:
            self.shown = []
            self._show([done.error], "bold red")
            self.notify(render.safe(done.error), title="kstep fix refused", severity="error", timeout=8, markup=False)
            self.query_one("#fix-path", Input).focus()
        else:
            self._show([*done.lines, f"(exit {done.code})"], "bold")

    def action_cancel(self) -> None:
        if self.running:
            self.notify("kstep fix is running; it writes nothing until FIXED agrees with OLD (ctrl+c quits)",
                        timeout=4, markup=False)
            return
        self.dismiss(None)


def open_fix(screen: MainScreen) -> None:
    """x on the main screen: the dialog when the first divergence has a verified in-file fix, else a notification
    saying why not; once FIXED is written the screen restarts on OLD vs FIXED (the app's source switched to it)."""
    run, targets = screen.config.fix, screen.config.fix_targets
    offer = fix_offer(screen.analysis, screen.running)
    if run is None or targets is None or isinstance(offer, str):
        screen.notify(offer if isinstance(offer, str) else "fixing is not available in this build",
                      title="x: no fix", severity="warning", timeout=8, markup=False)
        return

    def done(written: str | None) -> None:
        if written is not None:
            screen.action_restart(f"wrote {render.safe(written)}; comparing OLD with FIXED")

    screen.app.push_screen(FixDialog(offer, targets(), run), done)
