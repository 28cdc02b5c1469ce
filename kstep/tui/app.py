"""Provides `make_app`, the one factory that builds the kstep app for the CLI and for the tests, and `KstepApp`.

The app renders an `Analysis` (kstep.analysis) and has no numerics of its own. What it needs from the compare side
is passed in as plain callables, so this module is the only wiring:

    source()                         -> iterable of Analysis or (Analysis, (phase, done, total)); pulled in a
                                        worker thread (started after the first paint), each a newer snapshot;
                                        rows still PENDING are drawn as …
    retolerance(atol, rtol)          -> iterable like source(): the analysis judged again under a new tolerance
                                        (t), pulled by the same worker with its progress (a re-run when needed)
    export(analysis, fmt, path)      -> None; writes the report (e), the same writer as `kstep report`
    isolate()                        -> iterable like source(): the finished analysis with every row's isolated
                                        statistics over every sample (i), computed with progress where missing
    activations(row_index, isolated, sample, progress)
                                     -> (old, new) | (old, new, channel_axis) | None; NEW mapped onto OLD's
                                        layout, batch axis first, on the absolute `sample` (the sample in view);
                                        None shows "values not kept". Called in a worker thread (it may run both
                                        models on that sample: `progress(layers done, total)`)
    fix(fixed, arch_out, progress)   -> kstep.tui.fixing.FixDone; `kstep fix` (x) in a worker, progress(line) per
                                        round; once FIXED is written, source() compares OLD with FIXED
    fix_targets()                    -> (FIXED, architecture JSON or None): the dialog's default paths

q exits 0, ctrl+c exits 130 (`app.return_code`, errors.ExitCode); the terminal is restored by Textual either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Sequence

from textual.app import App
from textual.binding import Binding, BindingType
from textual.filter import Monochrome, NoColor

from kstep.analysis import Analysis
from kstep.errors import ExitCode
from kstep.tui.fixing import FixDone
from kstep.tui.keys import KEYS
from kstep.tui.screens.main import MainScreen

Retolerance = Callable[[float, float], Iterable]
"""retolerance(atol, rtol) -> snapshots, like source()"""
Activations = Callable[[int, bool, int | None, Callable[[int, int], None] | None], tuple | None]
"""activations(row_index, isolated, sample, progress) -> arrays or None"""
Fix = Callable[[str, str | None, Callable[[str], None]], FixDone]
"""fix(fixed, arch_out, progress) -> FixDone"""


@dataclass(frozen=True)
class AppConfig:
    """The callables and options `make_app` was given (see the module docstring)."""

    source: Callable[[], Iterable]
    retolerance: Retolerance | None = None
    export: Callable[[Analysis, str, str], None] | None = None
    export_formats: tuple[str, ...] = ("md", "json", "html")
    export_path: str = "kstep-report.md"
    activations: Activations | None = None
    start_paused: bool = False
    initial: Analysis | None = None
    isolate: Callable[[], Iterable] | None = None
    fix: Fix | None = None
    fix_targets: Callable[[], tuple[str, str | None]] | None = None


class KstepApp(App):
    """Thin: the stylesheet, the quit keys and the main screen."""

    CSS_PATH = "kstep.tcss"
    TITLE = "kstep"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(k.keys, k.action, k.short or k.help, show=False, priority=k.first) for k in KEYS if k.app]

    def __init__(self, config: AppConfig):
        super().__init__()
        self.config = config
        if self.no_color:
            # NO_COLOR (no-color.org): no colour at all, rather than Textual's monochrome greys, which turn red
            # text on a dark background into dark grey on near-black. Glyphs, bold and reverse carry every state.
            self._filters = [f for f in self._filters if not isinstance(f, Monochrome)]
            if not any(isinstance(f, NoColor) for f in self._filters):
                self._filters.append(NoColor())

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.config))

    def on_ready(self) -> None:
        # The DOM is ready and the first frame is being drawn; callbacks after the next refresh run once it is.
        self.call_after_refresh(self._first_frame)

    def _first_frame(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.first_frame()

    async def action_quit(self) -> None:
        self.exit(return_code=int(ExitCode.OK))

    def action_interrupt(self) -> None:
        self.exit(return_code=int(ExitCode.INTERRUPTED))


def make_app(source: Callable[[], Iterable] | Analysis, *,
             retolerance: Retolerance | None = None,
             export: Callable[[Analysis, str, str], None] | None = None,
             export_formats: Sequence[str] = ("md", "json", "html"),
             export_path: str = "kstep-report.md",
             activations: Activations | None = None,
             start_paused: bool = False, initial: Analysis | None = None,
             isolate: Callable[[], Iterable] | None = None, fix: Fix | None = None,
             fix_targets: Callable[[], tuple[str, str | None]] | None = None) -> KstepApp:
    """Build the app. `source` is a callable returning an iterable of snapshots, or one finished Analysis.

    start_paused: show the first snapshot and wait for s / c (stepping from the first layer).
    initial: a snapshot drawn with the first screen (e.g. every layer pending), before `source` is pulled; the
    worker starts pulling `source` only once that screen is on the terminal.
    """
    if isinstance(source, Analysis):
        finished = source
        source = lambda: iter([finished])  # noqa: E731
    return KstepApp(AppConfig(source, retolerance, export, tuple(export_formats), export_path, activations,
                              start_paused, initial, isolate, fix, fix_targets))
