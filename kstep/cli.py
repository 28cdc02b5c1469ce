"""Provides the command line: `kstep inspect`, `kstep dump`, `kstep report` and the debugger `kstep OLD NEW REF`.

stdout carries data, stderr diagnostics. Every KstepError is printed once, here, as one line naming the file and
the problem; the exit code comes from `errors.ExitCode`. Any other exception is kstep's own failure: one line
(errors.InternalError), exit 4, the traceback only with `--debug` or KSTEP_DEBUG=1. A closed stdout (`| head -1`)
ends the output quietly with the exit code already computed. The comparison's options (shared by `report` and the
app) are declared and parsed in kstep.options; the app itself is opened by kstep.tui.launch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, NoReturn

from kstep import __version__
from kstep.convert.command import add_convert_parser, cmd_convert
from kstep.errors import ExitCode, InternalError, KstepError, UsageError, printable
from kstep.options import DEBUG_HELP, CompareOptions, add_compare_options, parse_assume, report_command
from kstep.outputs import refuse_inputs, write_atomic

if TYPE_CHECKING:
    from kstep.analysis import Analysis

COMMANDS = ("inspect", "dump", "report", "fix", "convert")
DEBUG_ENV = "KSTEP_DEBUG"
"""Set (to anything but '' or '0'), the same as --debug: an internal error (exit 4) prints its traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """`kstep inspect | dump | report ...` (the app's own parser is build_app_parser)."""
    from kstep.io.load import ASSUME_KEYS
    from kstep.report import FORMATS  # the report writers: not imported on the app's fast path

    keys = "; ".join(f"{k}: {v}" for k, v in ASSUME_KEYS.items())
    parser = _Parser(prog="kstep", description="Find the exact layer where two Keras models stop agreeing. "
                                               "Run `kstep OLD NEW REF` for the debugger, or a command below.",
                     usage="kstep OLD NEW REF [options]\n       kstep {inspect,dump,report} ...")
    parser.add_argument("--version", action="version", version=f"kstep {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND", prog="kstep")

    p = sub.add_parser("inspect", help="show what a model file is and how kstep will execute it",
                       description="Show the writer, detected generation, assumptions, inputs/outputs and every "
                                   f"layer with resolved parameters and weights. --assume keys: {keys}")
    p.add_argument("model", metavar="MODEL", help="model file: .h5, .keras, or architecture .json (with --weights)")
    p.add_argument("--weights", metavar="W.h5", help="weights file for an architecture .json")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema kstep.inspect/1)")
    p.add_argument("--assume", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fact kstep had to assume (repeatable)")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)

    d = sub.add_parser("dump", help="run one input through a model and save every layer's output",
                       description="Step INPUT through MODEL with kstep's numpy engine and write every layer's "
                                   "output to OUT.npz (keys NAME, NAME:i, NAME@k, OUTER/INNER).")
    d.add_argument("model", metavar="MODEL")
    d.add_argument("input", metavar="INPUT", help=".npy (single input, batch axis included), .npz keyed by "
                                                  "input layer name, or an image or a directory of images")
    d.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    d.add_argument("--weights", metavar="W.h5")
    d.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    d.add_argument("--assume", action="append", default=[], metavar="KEY=VALUE")
    d.add_argument("--resize", metavar="HxW", help="resize an image INPUT to H x W pixels, nearest-neighbour")
    d.add_argument("--profile", action="store_true", help="print each layer's seconds and the total on stderr")
    d.add_argument("--debug", action="store_true", help=DEBUG_HELP)

    r = sub.add_parser("report", help="compare two models on one input; report the first divergence and why",
                       description="Run REF through OLD and NEW layer by layer, find where they first diverge beyond "
                                   "tolerance, diagnose why (each cause verified by re-running with the fix) and "
                                   "write the report. Exit 0: agree; 1: diverge; 2: bad input; 3: stopped at an "
                                   "unsupported layer with no divergence before it; 4: kstep's own failure.")
    add_compare_options(r)
    r.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically); default: stdout")
    r.add_argument("--format", choices=tuple(FORMATS), help="default: from -o's suffix, else md")

    f = sub.add_parser("fix", help="write NEW with the verified fixes applied, and prove it agrees with OLD",
                       description="Compare OLD and NEW; at each divergence whose verified fix is an edit of NEW's "
                                   "file alone, apply it (to every layer with the same mistake) and go on. FIXED is "
                                   "NEW's file copied and patched; it is re-read from disk and compared with OLD "
                                   "before it is renamed into place. Exit 0: FIXED written and agrees (or nothing "
                                   "to fix); 1: a divergence remains (nothing written unless --keep-on-diverge); "
                                   "2: bad input or NEW's format cannot be written; 3: stopped at an unsupported "
                                   "layer; 4: kstep's own failure.")
    add_compare_options(f)
    f.add_argument("-o", "--output", required=True, metavar="FIXED",
                   help="the repaired file (for an architecture .json NEW: the weights file)")
    f.add_argument("--arch-out", metavar="FIXED.json", help="for an architecture .json NEW: the repaired JSON")
    f.add_argument("--dry-run", action="store_true", help="print the fixes, write nothing")
    f.add_argument("--keep-on-diverge", action="store_true",
                   help="when a divergence remains, still write FIXED with every fix that applied")
    f.add_argument("--accept-old-weights", action="append", default=[], metavar="LAYER",
                   help="where LAYER's weights differ from OLD's (weights_changed), copy OLD's into it in NEW's "
                        "form (repeatable; never done otherwise: other weights may be an intended retraining)")
    f.add_argument("--report", metavar="FILE", help="write the report here (md/json/html by suffix or --format); "
                                                    "default: Markdown on stdout")
    f.add_argument("--format", choices=tuple(FORMATS), help="the report's format (default: from --report's suffix)")

    add_convert_parser(sub, tuple(FORMATS))
    return parser


def cmd_inspect(args: argparse.Namespace) -> int:
    """`kstep inspect MODEL`: the file described, as text or one JSON document."""
    from kstep.describe import describe, to_text
    from kstep.io.load import open_model

    with open_model(args.model, args.weights, parse_assume(args.assume)) as mf:
        doc = describe(mf)
    emit(json.dumps(doc, indent=1) + "\n" if args.json else to_text(doc))
    return ExitCode.OK


def cmd_dump(args: argparse.Namespace) -> int:
    """`kstep dump MODEL INPUT -o OUT.npz`: every layer's output of one run through kstep's engine."""
    import numpy as np

    from kstep.engine.executor import Executor
    from kstep.errors import BadInput
    from kstep.io.inputs import read_reference
    from kstep.io.load import open_model
    from kstep.io.npyfile import save_npz
    from kstep.options import parse_resize

    resize = None if args.resize is None else parse_resize(args.resize)
    refuse_inputs(args.output, [args.model, args.input, args.weights])
    with open_model(args.model, args.weights, parse_assume(args.assume)) as mf:
        notes: list[str] = []
        feeds = read_reference(args.input, mf.model, notes, warn_nonfinite=True, resize=resize)
        for note in notes:
            print(printable(note if note.startswith("warning") else f"note: {note}"), file=sys.stderr)
        arrays: dict[str, np.ndarray] = {}
        owners: dict[str, str] = {}  # key -> which layer call (and output) the array under it came from
        unsupported = []
        executor = Executor(mf, args.dtype)
        if args.profile:
            executor.preload()  # --profile times the engine alone, apart from file reading
        start = time.perf_counter()
        for result in executor.step(feeds):
            if result.unsupported:
                unsupported.append(result)
                continue
            if result.skipped:
                continue
            keyed = result.keyed_outputs()
            calls = len(result.layer.calls)
            outer = result.key[:-len(result.layer.name + (f"@{result.call}" if calls > 1 else "")) - 1]
            layer = f"layer '{result.layer.name}'" + (f" call {result.call}" if calls > 1 else "") + (
                f" of nested model '{outer}'" if outer else "")
            if list(keyed) != list(result.keyed_outputs(storable=False)):
                print(printable(f"note: {layer}: an .npz key cannot hold a NUL or a lone surrogate; its key spells "
                                "each as its escape (a backslash, then x00 or udcff...), the rest of the name as is"),
                      file=sys.stderr)
            for i, (key, array) in enumerate(keyed.items()):
                owner = layer + (f" output {i}" if len(keyed) > 1 else "")
                if key in owners:  # keys stay as the names are (tools parse them): refuse rather than overwrite
                    raise BadInput(f"{owners[key]} and {owner} would both be saved under the key '{key}' (dump "
                                   "keys are NAME, NAME:i, NAME@k, OUTER/INNER); rename one of the layers",
                                   path=args.model)
                owners[key] = owner
                arrays[key] = array
            if args.profile:
                print(printable(f"{result.seconds:10.6f} s  {result.key} ({result.layer.kind})"), file=sys.stderr)
        total = time.perf_counter() - start
    if args.profile:
        print(f"{total:10.6f} s  engine total", file=sys.stderr)

    write_atomic(args.output, ".npz", lambda fh: save_npz(fh, arrays))
    for result in unsupported:
        print(printable(f"{args.model}: layer '{result.key}' ({result.layer.class_name}) is unsupported: "
                        f"{result.unsupported}; upstream layers were written, downstream ones were not"),
              file=sys.stderr)
    return ExitCode.UNSUPPORTED if unsupported else ExitCode.OK


def exit_code_for(analysis: Analysis) -> int:
    """`report`'s exit code: `kstep.analysis.exit_code` (one rule for every comparing command)."""
    from kstep.analysis import exit_code

    return exit_code(analysis)


def run_comparison(args: argparse.Namespace, argv: list[str]) -> Analysis:
    """Open, compute and close one comparison; returns the finished Analysis."""
    from kstep.compare.once import compare_once

    return compare_once(args.old, args.new, args.ref, args.ref_new, CompareOptions.from_args(args),
                        report_command(argv))


def cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    """`kstep report OLD NEW REF`: the comparison's report on stdout or in -o FILE."""
    from kstep.report import format_for, write_report

    inputs = [args.old, args.new, args.ref, args.ref_new, args.weights_old, args.weights_new, *args.more_refs]
    if args.output:
        refuse_inputs(args.output, inputs)
    analysis = run_comparison(args, argv)
    fmt = format_for(args.output, args.format)
    if args.output:
        write_report(analysis, args.output, fmt, inputs)
    else:
        emit(fmt.render(analysis))
    for note in analysis.input_notes:
        if note.startswith("warning"):
            print(printable(note), file=sys.stderr)
    return exit_code_for(analysis)


def cmd_fix(args: argparse.Namespace, argv: list[str]) -> int:
    """`kstep fix OLD NEW REF -o FIXED`: kstep.repair.run, its report on stdout or in --report FILE."""
    from kstep.repair.run import FixRequest, run_fix
    from kstep.report import format_for, write_report

    inputs = [args.old, args.new, args.ref, args.ref_new, args.weights_old, args.weights_new, *args.more_refs]
    if args.report:
        refuse_inputs(args.report, inputs + [args.output, args.arch_out])
    req = FixRequest(args.old, args.new, args.ref, args.ref_new, CompareOptions.from_args(args),
                     ["kstep", *argv], args.output, args.arch_out, args.dry_run, args.keep_on_diverge,
                     frozenset(args.accept_old_weights))
    result = run_fix(req, progress=lambda line: print(printable(line), file=sys.stderr))
    fmt = format_for(args.report, args.format)
    if args.report:
        write_report(result.analysis, args.report, fmt, inputs)
    else:
        emit(fmt.render(result.analysis))
    for line in result.lines:
        print(printable(line), file=sys.stderr)
    return int(result.exit_code)


def build_app_parser() -> argparse.ArgumentParser:
    """`kstep OLD NEW REF [options]`: every `kstep report` option except -o/--format."""
    parser = _Parser(prog="kstep", description="Open the debugger on OLD and NEW stepped through REF (when stdout "
                                               "is not a terminal, print the Markdown report instead).")
    add_compare_options(parser)
    return parser


def cmd_app(args: argparse.Namespace, argv: list[str]) -> int:
    """The debugger; without a terminal on stdout, the Markdown report with `report`'s exit code."""
    if not sys.stdout.isatty():
        import numpy as np

        from kstep.report import FORMATS

        with np.errstate(all="ignore"):
            analysis = run_comparison(args, argv)
        emit(FORMATS["md"].render(analysis))
        return exit_code_for(analysis)
    from kstep.tui.launch import launch  # imports nothing heavy before it has forked its preflight

    return launch(args, argv)


def _h5py_failure(exc: BaseException) -> str | None:
    """The HDF5 file being read when h5py itself raised `exc`; None when the error did not come from h5py."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None or "h5py" not in (last.tb_frame.f_code.co_filename or ""):
        return None
    from kstep.io import h5safe

    return h5safe.LAST_OPENED or "an HDF5 file"


def emit(text: str) -> None:
    """Write `text` on stdout. A reader that left early (`kstep report ... | head -1`) is not an error: the rest is
    dropped and stdout is pointed at os.devnull (the Python docs' recipe), so no later flush fails either."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point file descriptor 1 at os.devnull: what stdout still buffers goes nowhere instead of failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (an embedding, a test's capture)
        pass
    finally:
        os.close(devnull)


def debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """(debug, argv without `--debug`): the global flag, accepted anywhere before a `--`, or KSTEP_DEBUG."""
    end = argv.index("--") if "--" in argv else len(argv)
    rest = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    return len(rest) != len(argv) or os.environ.get(DEBUG_ENV, "") not in ("", "0"), rest


def command_name(argv: list[str]) -> str:
    """What an internal-error line says failed: the command, or the debugger for `kstep OLD NEW REF`."""
    if argv and argv[0] in COMMANDS:
        return argv[0]
    return "the debugger" if argv and not argv[0].startswith("-") else "kstep"


def internal_failure(exc: BaseException, command: str, debug: bool) -> int:
    """Report kstep's own failure: the traceback when debugging, then one line (errors.InternalError); exit 4."""
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(InternalError(exc, command, debug).line(), file=sys.stderr)
    return ExitCode.INTERNAL


def main(argv: list[str] | None = None) -> int:
    """The `kstep` entry point: run one command; the process exit code (errors.ExitCode)."""
    debug, argv = debug_requested(list(sys.argv[1:] if argv is None else argv))
    try:
        return _main(argv, debug)
    finally:
        try:  # what stdout still buffers (argparse's --help), flushed here where a closed pipe can be caught
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        except (OSError, ValueError):
            pass


def _main(argv: list[str], debug: bool) -> int:
    """main without the final flush: the command run, every exception turned into its exit code."""
    try:
        if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
            # The app: nothing here imports numpy, h5py or the engine (the first screen must be quick); cmd_app
            # and the app's worker set numpy's errstate as below.
            app_args = build_app_parser().parse_args(argv)
            app_args.debug = debug
            return int(cmd_app(app_args, argv))
        parser = build_parser()
        if not argv:
            parser.print_help(sys.stderr)
            return ExitCode.BAD_INPUT
        args = parser.parse_args(argv)
        import numpy as np

        with np.errstate(all="ignore"):  # NaN/Inf in inputs or weights propagate as in Keras; kstep warns itself
            if args.command == "inspect":
                return int(cmd_inspect(args))
            if args.command == "dump":
                return int(cmd_dump(args))
            if args.command == "report":
                return int(cmd_report(args, argv))
            if args.command == "fix":
                return int(cmd_fix(args, argv))
            if args.command == "convert":
                return int(cmd_convert(args, argv))
        raise UsageError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)})")
    except KstepError as exc:
        print(exc.line(), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - an error raised inside h5py/libhdf5 is a corrupt file, the rest kstep's
        path = _h5py_failure(exc)
        if path is None:
            return internal_failure(exc, command_name(argv), debug)
        if debug:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        print(printable(f"{path}: cannot be read, the HDF5 structure is corrupt ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"), file=sys.stderr)
        return ExitCode.BAD_INPUT


