"""Provides the app's messages: small dataclasses posted by workers (the analysis, export, fix, the Activations
tab's arrays) to the screen or widget that started them.

`generation` tags every message from the analysis worker with the run it belongs to, so that after `r` (restart)
late messages from the cancelled run are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from kstep.analysis import Analysis
from kstep.tui.fixing import FixDone


@dataclass
class Progress:
    """How far the compare side is: phase ('old', 'new', 'compare', ...), units done out of total."""

    phase: str
    done: int
    total: int


@dataclass
class AnalysisUpdated(Message):
    """A newer snapshot of the analysis; supersedes any not yet handled (only the latest matters)."""

    analysis: Analysis
    progress: Progress | None
    paused: bool
    final: bool
    generation: int

    def can_replace(self, message: Message) -> bool:
        return (isinstance(message, AnalysisUpdated) and message.generation == self.generation
                and not message.final)


@dataclass
class AnalysisFailed(Message):
    """The compare side raised a KstepError: its one-line message."""

    error: str
    generation: int


@dataclass
class ArraysFetched(Message):
    """The Activations tab's arrays for key (row index, isolated, sample): the accessor's answer (None: not kept)."""

    key: tuple[int, bool, int | None]
    pair: tuple | None
    cancelled: bool = False  # the worker was cancelled before it had the arrays


@dataclass
class ArraysProgress(Message):
    """Computing key's sample on demand (both models on it alone): layer calls done out of total."""

    key: tuple[int, bool, int | None]
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ArraysProgress) and message.key == self.key


@dataclass
class ExportFinished(Message):
    """`e` wrote a report (error is None) or could not (error holds the reason)."""

    path: str
    error: str | None = None


@dataclass
class FixProgress(Message):
    """`x`: kstep fix applied a round's fix (the CLI's progress line)."""

    line: str


@dataclass
class FixFinished(Message):
    """`x`: the kstep fix run ended (kstep.tui.fixing.FixDone)."""

    done: FixDone
