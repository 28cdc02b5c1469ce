"""Provides the app's messages: small dataclasses posted by workers (the analysis, retolerance, export) to the screen.

`generation` tags every message from the analysis worker with the run it belongs to, so that after `r` (restart)
late messages from the cancelled run are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from kstep.analysis import Analysis


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
class Retoleranced(Message):
    """The analysis re-judged under a tolerance the user set with `t`."""

    analysis: Analysis
    atol: float
    rtol: float


@dataclass
class ExportFinished(Message):
    """`e` wrote a report (error is None) or could not (error holds the reason)."""

    path: str
    error: str | None = None
