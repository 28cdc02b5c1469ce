"""Provides `launch`: `kstep OLD NEW REF` in a terminal, the wiring between the CLI, the comparison and the app.

Order of events, so that the screen is drawn within a second and a bad file or argument still fails before the
app opens (one line, exit 2, like `kstep report`):

1. `first_screen` checks the arguments and both files cheaply (configs, layer graphs, the
   reference input's shape; no weight read, nothing run) and lists every aligned layer pair as pending. It runs in
   a forked child process while this process imports Textual (the two imports, numpy + h5py + kstep.io there and
   Textual here, are most of the start-up time and need no interpreter in common). Without `os.fork` it runs here.
2. A refusal is raised here, before the app takes the terminal; otherwise the app opens on the pending table.
3. Once the first frame is on the terminal, the app's worker builds the `Comparison` (opening the weights) and
   runs it; rows fill in (the comparison and every callable the app is given: `kstep.tui.session.Session`). A
   file that passed the preflight but cannot be opened in full (a weight the config contradicts) ends the app with
   the comparison's one line and exit 2.

An exception that is not a KstepError, anywhere in the app (a screen, the worker), ends it with kstep's internal-error
line and exit 4 (errors.InternalError) instead of Textual's traceback and exit 1 (1 means "the models diverge");
the traceback is printed only with --debug / KSTEP_DEBUG=1.

This process imports numpy, h5py and the engine only in that worker. The cyclic garbage collector, turned off by
`launch` for start-up, is turned back on when the worker starts. The comparison's options come from
kstep.options (`CompareOptions.from_args`, checked in the child and again in the worker, which imports numpy).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstep.errors import ExitCode, InternalError, KstepError
from kstep.options import CompareOptions, report_command
from kstep.tui.session import Session, collect_garbage

if TYPE_CHECKING:

    from kstep.analysis import Analysis
    from kstep.tui.app import KstepApp


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """Check, open the app, run it; the exit code (130 for ctrl+c, 2 when a file fails the full open, 4 when kstep
    itself failed inside the app)."""
    import gc

    # Start-up allocates hundreds of thousands of long-lived objects (Textual; numpy and h5py in the preflight) and
    # no garbage worth a collection: the cyclic collector stays off until the first frame is drawn (the worker turns
    # it back on, after freezing what start-up made), which saves about a tenth of the time to the first screen.
    debug = bool(getattr(args, "debug", False))
    gc.disable()
    try:
        app, session = build(args, argv)
        failures = catch_failures(app, debug)
        try:
            app.run()
        finally:
            session.close()
    finally:
        collect_garbage()
    if failures:
        first = failures[0]
        error = first if isinstance(first, KstepError) else InternalError(first, "the debugger", debug)
        print(error.line(), file=sys.stderr)
        return int(error.exit_code)
    if session.fatal is not None:
        print(session.fatal.line(), file=sys.stderr)
        return int(session.fatal.exit_code)
    return app.return_code if app.return_code is not None else int(ExitCode.OK)


def catch_failures(app: KstepApp, debug: bool) -> list[BaseException]:
    """The exceptions the app meets (a worker's unwrapped), collected as they happen; Textual still ends the app on
    the first, but keeps its traceback for the terminal only when `debug` (launch prints the one line)."""
    failures: list[BaseException] = []
    handle = app._handle_exception

    def handle_exception(error: Exception) -> None:
        inner = getattr(error, "error", None)  # textual.worker.WorkerFailed carries the worker's exception
        failures.append(inner if isinstance(inner, BaseException) else error)
        handle(error)
        if not debug:
            app._exit_renderables.clear()  # Textual's rendered traceback, printed when the app ends

    app._handle_exception = handle_exception  # type: ignore[method-assign]
    return failures


def build(args: argparse.Namespace, argv: list[str]) -> tuple[KstepApp, Session]:
    """-> (app, Session), not yet running; raises the preflight's KstepError (nothing has touched the terminal)."""
    command = report_command(argv)
    job = Forked(first_screen, args, command)
    try:
        from kstep.report import FORMATS
        from kstep.tui.app import make_app
    except BaseException:
        job.cancel()
        raise
    pending = job.result()
    session = Session(args, command, pending)
    app = make_app(session.updates, retolerance=session.retolerance, export=session.export,
                   export_formats=tuple(FORMATS), activations=session.arrays, initial=pending,
                   isolate=session.isolated, fix=session.fix, fix_targets=session.fix_targets)
    session.app = app
    return app, session


def first_screen(args: argparse.Namespace, command: list[str]) -> Analysis:
    """The app's arguments checked (UsageError), then both files and the reference input(s) (BadInput), as the
    pending Analysis the first screen shows (kstep.preflight). No Textual here: it runs in the forked child."""
    from kstep.preflight import first_analysis, preflight

    options = CompareOptions.from_args(args)
    pre = preflight(args.old, args.new, args.ref, args.ref_new, options)
    return first_analysis(pre, options, command)


class ChildError(KstepError):
    """A KstepError raised in the forked preflight, carried back as its line and exit code."""

    def __init__(self, line: str, exit_code: int):
        super().__init__(line)
        self.exit_code = ExitCode(exit_code)


class Forked:
    """`fn(*args)` computed in a forked child while this process goes on; `result()` returns its value or raises
    its KstepError. Anything else the child meets (a crash, an error that is not a KstepError) makes `result()`
    call `fn` here instead, so the CLI's own handling applies. Forks only while this process has a single thread
    and has not imported numpy (nothing that dislikes fork has started); otherwise `result()` just calls `fn`."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self.fn, self.args = fn, args
        self.pid: int | None = None
        self.fd: int | None = None
        if not hasattr(os, "fork") or threading.active_count() != 1 or "numpy" in sys.modules:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, exit without running any of the parent's exit handlers
            os.close(read_fd)
            os._exit(self._child(write_fd))
        os.close(write_fd)
        self.pid, self.fd = pid, read_fd

    def _child(self, fd: int) -> int:
        try:
            import warnings

            warnings.simplefilter("ignore")  # the terminal belongs to the parent
            out: tuple[Any, ...]
            try:
                out = ("ok", self.fn(*self.args))
            except KstepError as exc:
                out = ("error", exc.line(), int(exc.exit_code))
            except KeyboardInterrupt:
                return ExitCode.INTERRUPTED
            except BaseException:  # noqa: BLE001 - the parent runs fn again and reports it its usual way
                out = ("again",)
            try:
                data = pickle.dumps(out)
            except Exception:  # noqa: BLE001
                data = pickle.dumps(("again",))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return 0
        except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
            return 1

    def result(self) -> Any:
        """fn's value: the child's, or computed here (no fork, or the child could not answer)."""
        fd = self.fd
        if self.pid is None or fd is None:
            return self.fn(*self.args)
        self.fd = None
        try:
            with os.fdopen(fd, "rb") as fh:
                data = fh.read()
        except BaseException:  # ctrl+c while waiting: do not wait for the child too
            self.cancel()
            raise
        self._reap()
        try:
            out = pickle.loads(data)  # from our own child
        except Exception:  # noqa: BLE001 - the child died before it could answer
            out = ("again",)
        if out[0] == "ok":
            return out[1]
        if out[0] == "error":
            raise ChildError(out[1], out[2])
        return self.fn(*self.args)

    def cancel(self) -> None:
        """Kill the child (if any) and forget its answer."""
        if self.pid is None:
            return
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self._reap()

    def _reap(self) -> None:
        if self.pid is not None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None
