"""Provides `Session`: the comparison behind one debugger app (kstep.tui.launch builds both), and the callables
the app is given: the snapshots of the comparison's run (`updates`), of a re-run under a new tolerance
(`retolerance`), of every row's isolated errors (`isolated`), one row's arrays on the sample in view (`arrays`) and
the export. A KstepError in any of them (running out of memory included) ends the app with the CLI's one line and
exit code (`_end`); `fix` (x) is the exception: its refusal is the dialog's to show. numpy, h5py and the engine are
imported only inside these methods (in the app's workers).

After `fix` wrote FIXED, the next `updates()` (the app restarts it) compares OLD with FIXED: same REF, options and
tolerance; the comparison of OLD with NEW is closed once no run and no Activations fetch uses it.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kstep.errors import ExitCode, KstepError
from kstep.options import CompareOptions
from kstep.tui.fixing import FixDone, default_targets, with_fixed

if TYPE_CHECKING:
    import numpy as np

    from kstep.analysis import Analysis
    from kstep.compare.analyze import Comparison
    from kstep.tui.app import KstepApp


def collect_garbage() -> None:
    """Turn the cyclic collector back on (`launch` turned it off for start-up), leaving what start-up made out of
    every later collection."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def with_isolated(analysis: Analysis, stats: dict[int, Any]) -> Analysis:
    """`analysis` with the isolated statistics of `stats` (row index -> Stats) in place of its rows' own."""
    from dataclasses import replace

    rows = [replace(r, isolated=stats[r.index]) if r.index in stats else r for r in analysis.rows]
    return replace(analysis, rows=rows)


class Session:
    """The comparison behind one app: built by the first `updates()` (in the worker), shared by every restart."""

    def __init__(self, args: argparse.Namespace, command: list[str], pending: Analysis):
        self.command = command
        self.pending = pending  # the Analysis shown until the comparison exists
        self._set_args(args)
        self.comparison: Comparison | None = None
        self.fatal: KstepError | None = None  # the comparison could not be built: the app exits with its line
        self.app: KstepApp | None = None
        self.tolerance: tuple[float, float] | None = None  # set with `t`: applied to every later run
        self._lock = threading.Lock()
        self._running = threading.Lock()  # held by the one comparison run (or isolated pass) in progress
        self._iso: tuple[object, Any] | None = None  # (the comparison's judges it was computed for, IsolatedPass)
        self._closed = False
        self._switch: tuple[argparse.Namespace, list[str], Analysis] | None = None  # OLD vs FIXED, once fix wrote it
        self._users = 0  # Activations fetches using the comparison (it is closed only when none is)
        self._idle = threading.Condition()

    def _set_args(self, args: argparse.Namespace) -> None:
        self.args = args
        self.inputs = [args.old, args.new, args.ref, args.ref_new, args.weights_old, args.weights_new]
    def _open(self) -> Comparison | None:
        """The comparison, built (weights opened) on the first call; None once the session is closed."""
        with self._lock:
            if self.comparison is None and not self._closed:
                from kstep.compare.analyze import Comparison

                a = self.args
                options = CompareOptions.from_args(a)
                self.comparison = Comparison(a.old, a.new, a.ref, a.ref_new, options, self.command)
            return self.comparison

    def updates(self, rerun: bool = False) -> Iterator[Analysis | tuple[Analysis, tuple[str, int, int]]]:
        """Snapshots for the app: the pending one, then, while the comparison runs, each with its progress, then
        the finished analysis. rerun: compute again under the tolerance `retolerance` set, even when done. One run
        at a time: a restart or re-run waits here until the cancelled run has stopped (at its next snapshot)."""
        collect_garbage()  # the first frame is drawn (the worker starts then): back to normal collection
        if self._switch is not None:
            self._take_switch()
        comparison = self.comparison
        if comparison is None:
            yield self.pending
            import numpy as np

            try:
                with np.errstate(all="ignore"):
                    comparison = self._open()
            except KstepError as exc:
                self._end(exc)
                return
            if comparison is None:
                return
            yield self.pending  # lets a restart or quit during the open stop here, before the runs start
        import numpy as np

        with self._running:
            if self.tolerance is not None:
                with comparison.lock:
                    comparison.options = comparison.options.with_tolerance(*self.tolerance)
            if comparison.done and (not rerun or self._keeps_all(comparison)):
                # all arrays kept: re-judged from them (Comparison.retolerance), no model re-run
                with np.errstate(all="ignore"):
                    yield comparison.retolerance(*self.tolerance) if rerun and self.tolerance else \
                        comparison.analysis()
                return
            steps = comparison.run()
            try:
                while True:
                    with np.errstate(all="ignore"):  # as `kstep report`: NaN/Inf propagate, kstep warns itself
                        try:
                            progress = next(steps)
                        except StopIteration:
                            break
                        except KstepError as exc:  # e.g. out of memory: the CLI's line and exit code, not a verdict
                            self._end(exc)
                            return
                    yield comparison.analysis(), progress
            finally:
                if isinstance(steps, Generator):  # stop the comparison's run where it is (restart, quit)
                    steps.close()
            yield comparison.analysis()

    @staticmethod
    def _keeps_all(comparison: Comparison) -> bool:
        """Every sample's runs are kept (the first chunk is the whole set): a new tolerance needs no re-run."""
        return comparison.first_samples == comparison.inputs.count and comparison.old_trace is not None

    def _end(self, exc: KstepError) -> None:
        """The comparison failed: the app exits with the error's code, and launch prints its line."""
        self.fatal = exc
        if self.app is not None:
            try:
                self.app.call_from_thread(self.app.exit, return_code=int(exc.exit_code))
            except RuntimeError:  # the app is already closing
                pass

    def retolerance(self, atol: float, rtol: float) -> Iterator[Analysis | tuple[Analysis, tuple[str, int, int]]]:
        """The snapshots of the comparison judged again under (atol, rtol) (`t`): re-judged from the kept runs when
        they hold every sample, else every sample run again, with progress (rows, then samples)."""
        self.tolerance = (atol, rtol)
        return self.updates(rerun=True)

    def isolated(self) -> Iterator[Analysis | tuple[Analysis, tuple[str, int, int]]]:
        """The finished analysis with every layer-level row's isolated statistics over every sample (`i`): computed
        once per run of the comparison, chunk by chunk with progress (kstep.compare.isolated_all), then kept;
        statuses stay the comparison's. Before the comparison has finished: its analysis as it is."""
        comparison = self.comparison
        if comparison is None or not comparison.done:
            yield self.pending if comparison is None else comparison.analysis()
            return
        import numpy as np

        from kstep.compare.isolated_all import IsolatedPass, isolated_pass
        from kstep.compare.plan import memory_line
        from kstep.errors import OutOfMemory

        with self._running:
            if self._iso is None or self._iso[0] is not comparison.judges:
                out = IsolatedPass({})
                steps = isolated_pass(comparison, comparison.sample_set.chunk, comparison.focus.executors, out)
                try:
                    while True:
                        with np.errstate(all="ignore"):
                            try:
                                progress = next(steps)
                            except StopIteration:
                                break
                        yield with_isolated(comparison.analysis(), out.stats), progress
                except MemoryError:
                    self._end(OutOfMemory(memory_line(comparison.old.model, comparison.new.model,
                                                      comparison.per_sample, comparison.options.max_memory)))
                    return
                except KstepError as exc:
                    self._end(exc)
                    return
                finally:
                    steps.close()
                self._iso = (comparison.judges, out)
            yield with_isolated(comparison.analysis(), self._iso[1].stats)

    def export(self, analysis: Analysis, fmt: str, path: str) -> None:
        """Write `analysis` as report format `fmt` to `path` (the writer `kstep report -o` uses)."""
        from kstep.report import FORMATS, write_report

        write_report(analysis, path, FORMATS[fmt], self.inputs)

    def arrays(self, index: int, isolated: bool = False, sample: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Row `index`'s outputs for the Activations tab, (OLD's, NEW's mapped onto OLD's layout, channel axis), on
        `sample` (absolute index; None: every kept sample): sliced from the kept runs, else from both models run on
        that sample alone (cached for the last few; slow, so the app calls this in a worker, `progress(layers done,
        total)`). None before the comparison exists or while the row is not computed. Running out of memory or any
        KstepError ends the app with the CLI's line and exit code, as in the comparison's worker."""
        with self._use():
            return self._arrays(index, isolated, sample, progress)

    def _arrays(self, index: int, isolated: bool, sample: int | None,
                progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray, int] | None:
        comparison = self.comparison
        if comparison is None:
            return None
        import numpy as np

        from kstep.compare.focus import activation_arrays
        from kstep.compare.plan import memory_line
        from kstep.errors import OutOfMemory

        try:
            with np.errstate(all="ignore"):
                rel = None if sample is None else sample - comparison.inputs.first
                if sample is None or rel is None or (comparison.old_trace is not None
                                                     and 0 <= rel < comparison.first_samples):
                    pair = comparison.arrays(index, isolated)
                    return pair if pair is None or rel is None else (pair[0][rel:rel + 1], pair[1][rel:rel + 1],
                                                                     pair[2])
                pairs = comparison.pairs
                if not 0 <= index < len(pairs) or not 0 <= rel < comparison.inputs.count:
                    return None
                old, new = comparison.focus.view(sample, progress)
                return activation_arrays(old, new, *pairs[index], isolated)
        except MemoryError:
            self._end(OutOfMemory(memory_line(comparison.old.model, comparison.new.model, comparison.per_sample,
                                              comparison.options.max_memory)))
        except KstepError as exc:
            self._end(exc)
        return None

    @contextmanager
    def _use(self) -> Iterator[None]:
        """Mark the comparison in use (it is not closed by a switch to FIXED meanwhile)."""
        with self._idle:
            self._users += 1
        try:
            yield
        finally:
            with self._idle:
                self._users -= 1
                self._idle.notify_all()

    # -- x: kstep fix ------------------------------------------------------------------------------------------
    def fix_targets(self) -> tuple[str, str | None]:
        """FIXED's default path (and the architecture JSON's, for a JSON NEW) beside NEW (fixing.default_targets)."""
        return default_targets(self.args.new, self.args.weights_new)

    def fix(self, output: str, arch_out: str | None, progress: Callable[[str], None] | None = None) -> FixDone:
        """`kstep fix OLD NEW REF -o output [--arch-out arch_out]` with the app's options and tolerance (in a worker;
        progress: the round lines). Exit 0 with FIXED written: the next `updates()` compares OLD with FIXED. A
        KstepError or OSError (a refused path, a format kstep cannot write) is returned as the error, not raised."""
        import numpy as np

        from kstep.preflight import first_analysis, preflight
        from kstep.repair.run import FixRequest, run_fix

        a = self.args
        options = CompareOptions.from_args(a)
        if self.tolerance is not None:
            options = options.with_tolerance(*self.tolerance)
        req = FixRequest(a.old, a.new, a.ref, a.ref_new, options, self.command, output, arch_out)
        try:
            with np.errstate(all="ignore"):
                result = run_fix(req, progress)
                if result.written is None or result.exit_code is not ExitCode.OK:
                    return FixDone(int(result.exit_code), None, tuple(result.lines))
                args = argparse.Namespace(**vars(a))
                if a.weights_new is not None:
                    args.new, args.weights_new = arch_out or a.new, output
                else:
                    args.new = output
                command = with_fixed(self.command, a.new, a.weights_new, output, arch_out)
                fixed = CompareOptions.from_args(args)
                pending = first_analysis(preflight(args.old, args.new, args.ref, args.ref_new, fixed), fixed, command)
        except KstepError as exc:
            return FixDone(int(exc.exit_code), None, (), exc.line())
        except OSError as exc:  # e.g. a directory FIXED cannot be written in: the user picks another path
            return FixDone(int(ExitCode.BAD_INPUT), None, (), f"{output}: {exc.strerror or exc}")
        self._switch = (args, command, pending)
        return FixDone(int(result.exit_code), result.written, tuple(result.lines))

    def _take_switch(self) -> None:
        """OLD vs FIXED from now on: once the cancelled run has stopped, the old comparison is closed (when no
        Activations fetch uses it) and the next run opens the new pair."""
        with self._running:
            with self._lock:
                switch, self._switch = self._switch, None
                if switch is None:
                    return
                old, self.comparison, self._iso = self.comparison, None, None
                args, self.command, self.pending = switch
                self._set_args(args)
            if old is not None:
                with self._idle:
                    while self._users:
                        self._idle.wait(0.1)
                    old.close()

    def close(self) -> None:
        """Close the comparison's files; a later `updates()` builds nothing."""
        with self._lock:
            self._closed = True
            if self.comparison is not None:
                self.comparison.close()
