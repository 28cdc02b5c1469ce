"""Provides `Gate`, the stepping control between the analysis worker thread and the keys s / c / r.

The worker pulls updates from the compare side and, after each one, asks the gate whether to pause. RUN never
pauses; STEP pauses once one more row is computed; CONTINUE pauses once one more row breaks (diverges, mismatches,
is unsupported); PAUSE blocks the worker until a key changes the mode or the run is cancelled. Plain threading, no
Textual, so it is tested without an app.
"""

from __future__ import annotations

import threading
import time
from enum import Enum
from typing import Callable, Iterable, Iterator

from kstep.analysis import DIVERGE, MISMATCH, PENDING, UNSUPPORTED, Analysis


class Mode(Enum):
    """What the worker does after each update (see the module docstring)."""

    RUN = "run"
    PAUSE = "pause"
    STEP = "step"
    CONTINUE = "continue"


RUN, PAUSE, STEP, CONTINUE = Mode.RUN, Mode.PAUSE, Mode.STEP, Mode.CONTINUE

BREAK_STATUSES = frozenset({DIVERGE, MISMATCH, UNSUPPORTED})
"""The statuses of a row that breaks: CONTINUE pauses at one, n / N and the first-suspect selection stop at one."""


def computed(analysis: Analysis) -> int:
    """How many rows are no longer pending."""
    return sum(1 for r in analysis.rows if r.status != PENDING)


def breaks(analysis: Analysis) -> int:
    """How many rows break (BREAK_STATUSES)."""
    return sum(1 for r in analysis.rows if r.status in BREAK_STATUSES)


def split(update) -> tuple[Analysis, tuple[str, int, int] | None]:
    """An update is an Analysis or (Analysis, (phase, done, total))."""
    if isinstance(update, tuple):
        analysis, progress = update
        return analysis, (tuple(progress) if progress is not None else None)
    return update, None


class Gate:
    """Decides, after each update, whether the worker goes on; blocks it while paused."""

    def __init__(self, paused: bool = False):
        self._cond = threading.Condition()
        self.mode = PAUSE if paused else RUN
        self._target = 0
        self._last: Analysis | None = None
        self.cancelled = False

    def request(self, mode: Mode) -> None:
        """A key: STEP (s), CONTINUE (c), RUN or PAUSE; targets count from the latest update seen."""
        with self._cond:
            last = self._last
            if mode == STEP:
                self._target = (computed(last) if last else 0) + 1
            elif mode == CONTINUE:
                self._target = (breaks(last) if last else 0) + 1
            self.mode = mode
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self.cancelled = True
            self._cond.notify_all()

    def after(self, analysis: Analysis) -> bool:
        """Record the update; True when the worker should now pause."""
        with self._cond:
            self._last = analysis
            if self.mode == STEP and computed(analysis) >= self._target:
                self.mode = PAUSE
            elif self.mode == CONTINUE and breaks(analysis) >= self._target:
                self.mode = PAUSE
            return self.mode == PAUSE

    def wait(self, is_cancelled: Callable[[], bool] | None = None) -> bool:
        """Block while paused; False when the run was cancelled (here, or by `is_cancelled`, polled every 0.1 s)."""
        with self._cond:
            while self.mode == PAUSE and not self.cancelled:
                self._cond.wait(0.1)
                if is_cancelled is not None and is_cancelled():
                    self.cancelled = True
            return not self.cancelled


def drive(source: Callable[[], Iterable], gate: Gate,
          post: Callable[[Analysis, tuple | None, bool, bool], None],
          transform: Callable[[Analysis], Analysis] | None = None, min_interval: float = 0.05,
          clock: Callable[[], float] = time.monotonic, is_cancelled: Callable[[], bool] | None = None) -> None:
    """Pull every update from `source()`, post the ones worth drawing, pause where the gate says; stop on cancel.

    post(analysis, progress, paused, final). While running freely, updates closer than `min_interval` seconds are
    not posted; the last one is always posted again with final=True once the source is exhausted.
    """
    it: Iterator = iter(source())
    last_post = -1e9
    last = None
    try:
        for update in it:
            if gate.cancelled or (is_cancelled is not None and is_cancelled()):
                return
            analysis, progress = split(update)
            if transform is not None:
                analysis = transform(analysis)
            last = (analysis, progress)
            pause = gate.after(analysis)
            now = clock()
            if pause or gate.mode != RUN or now - last_post >= min_interval:
                post(analysis, progress, pause, False)
                last_post = now
            if not gate.wait(is_cancelled):
                return
        if last is not None and not gate.cancelled:
            post(last[0], last[1], False, True)
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
