"""Provides the TUI tests' shared helpers: building the app the way the CLI does, and waiting for it to settle."""

from __future__ import annotations

import asyncio
import functools
import html

from textual.pilot import Pilot
from textual.widgets import Input

from kstep.tui.app import make_app
from kstep.tui.screens.main import MainScreen
from kstep.tui.widgets.activations_view import ActivationsView
from tests.tui import sample_analysis as sample


def build(analysis=None, *, source=None, fake=None, paused=False, activations=sample.activations):
    """The real factory, fed by a fixed sample (or a stepping source) and the fake compare callables."""
    fake = fake or sample.FakeCompare(analysis)
    return make_app(source if source is not None else (analysis or sample.sample()),
                    retolerance=fake.retolerance, export=fake.export, activations=activations,
                    start_paused=paused, fix=fake.fix, fix_targets=fake.fix_targets)


def main_screen(pilot: Pilot) -> MainScreen:
    return next(s for s in pilot.app.screen_stack if isinstance(s, MainScreen))


async def settle(pilot: Pilot, done=None, tries: int = 200) -> None:
    """Wait until the main screen shows an analysis (and `done(screen)` holds, when given)."""
    for _ in range(tries):
        await pilot.pause(0.01)
        screen = main_screen(pilot) if pilot.app.screen_stack else None
        if screen is not None and screen.analysis is not None and (
                done(screen) if done else not screen.running or screen.paused):
            await pilot.pause()
            return
    raise AssertionError("the app never settled")


async def until(pilot: Pilot, condition, tries: int = 100) -> bool:
    """Let the app run (0.02 s at a time, up to `tries` times) until `condition()` holds; whether it did."""
    for _ in range(tries):
        await pilot.pause(0.02)
        if condition():
            return True
    return False


async def fetched(pilot: Pilot, tries: int = 300) -> None:
    """Wait until the Activations tab has no fetch running (its accessor runs in a worker)."""
    for _ in range(tries):
        views = list(pilot.app.screen.query(ActivationsView)) if pilot.app.screen_stack else []
        if not any(v.fetching for v in views):
            await pilot.pause()
            return
        await pilot.pause(0.01)
    raise AssertionError("the Activations tab never got its arrays")


async def still(pilot: Pilot) -> None:
    """For snapshots: settle, let the Activations tab get its arrays, then stop every input cursor from blinking."""
    await settle(pilot)
    await fetched(pilot)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def screen_without_colour(monkeypatch, analysis, *presses: str) -> str:
    """With NO_COLOR=1: the screen (an SVG, entities decoded) after `presses` on the sample app for `analysis`."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = build(analysis)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*presses)
        await pilot.pause()
        return html.unescape(app.export_screenshot()).replace("\xa0", " ")


def pilot_test(fn):
    """Run an async test function in its own event loop (no pytest async plugin needed)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        asyncio.run(fn(*args, **kwargs))
    return run
