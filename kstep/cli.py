"""Provides the command line: `kstep inspect`, `kstep dump` (and, as they land, `report` and the app).

stdout carries data, stderr diagnostics. Every KstepError is printed once, here, as one line naming the file and
the problem; the exit code comes from `errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from kstep import __version__
from kstep.errors import ExitCode, KstepError, UsageError, printable
from kstep.outputs import refuse_inputs, write_atomic

COMMANDS = ("inspect", "dump", "report")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so usage errors are one line and exit 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from kstep.io.load import ASSUME_KEYS

    keys = "; ".join(f"{k}: {v}" for k, v in ASSUME_KEYS.items())
    parser = _Parser(prog="kstep", description="Find the exact layer where two Keras models stop agreeing. "
                                               "Run `kstep OLD NEW REF` for the debugger, or a command below.",
                     usage="kstep OLD NEW REF [options]\n       kstep {inspect,dump,report} ...")
    parser.add_argument("--version", action="version", version=f"kstep {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND", prog="kstep")

    p = sub.add_parser("inspect", help="show what a model file is and how kstep will execute it",
                       description="Show the writer, detected generation, assumptions, inputs/outputs and every "
                                   f"layer with resolved parameters and weights. --assume keys: {keys}")
    p.add_argument("model", metavar="MODEL", help="model file: .h5, .keras, or architecture .json (with --weights)")
    p.add_argument("--weights", metavar="W.h5", help="weights file for an architecture .json")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema kstep.inspect/1)")
    p.add_argument("--assume", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fact kstep had to assume (repeatable)")

    d = sub.add_parser("dump", help="run one input through a model and save every layer's output",
                       description="Step INPUT through MODEL with kstep's numpy engine and write every layer's "
                                   "output to OUT.npz (keys NAME, NAME:i, NAME@k, OUTER/INNER).")
    d.add_argument("model", metavar="MODEL")
    d.add_argument("input", metavar="INPUT", help=".npy (single input, batch axis included) or .npz keyed by "
                                                  "input layer name")
    d.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    d.add_argument("--weights", metavar="W.h5")
    d.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    d.add_argument("--assume", action="append", default=[], metavar="KEY=VALUE")
    d.add_argument("--profile", action="store_true", help="print each layer's seconds and the total on stderr")

    r = sub.add_parser("report", help="compare two models on one input; report the first divergence and why",
                       description="Run REF through OLD and NEW layer by layer, find where they first diverge beyond "
                                   "tolerance, diagnose why (each cause verified by re-running with the fix) and "
                                   "write the report. Exit 0: agree; 1: diverge; 2: bad input; 3: stopped at an "
                                   "unsupported layer with no divergence before it.")
    add_compare_options(r)
    r.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically); default: stdout")
    r.add_argument("--format", choices=("md", "json", "html"), help="default: from -o's suffix, else md")
    return parser


def add_compare_options(p: argparse.ArgumentParser) -> None:
    """The options `kstep report` and the app `kstep OLD NEW REF` share."""
    p.add_argument("old", metavar="OLD", help="the reference model file (e.g. saved by Keras 1.2.2)")
    p.add_argument("new", metavar="NEW", help="the migrated model file")
    p.add_argument("ref", metavar="REF", help="reference input: .npy, or .npz keyed by input name")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: max(1e-5, 10x each layer's float32 "
                                              "noise measured by a float64 re-run))")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    p.add_argument("--tolerance", action="append", default=[], metavar="LAYER=ATOL,RTOL",
                   help="per-layer tolerance (repeatable)")
    p.add_argument("--map", action="append", default=[], metavar="OLDNAME=NEWNAME",
                   help="force a layer pair (repeatable)")
    p.add_argument("--ref-new", metavar="REF2", help="a separately preprocessed input for NEW")
    p.add_argument("--pre-old", action="append", default=[], metavar="EXPR",
                   help="transform OLD's input: scale:1/255, scale:255, bgr, transpose:0,3,1,2, mean:M[,M..]")
    p.add_argument("--pre-new", action="append", default=[], metavar="EXPR", help="transform NEW's input (same set)")
    p.add_argument("--weights-old", metavar="W.h5", help="weights for an OLD architecture .json")
    p.add_argument("--weights-new", metavar="W.h5", help="weights for a NEW architecture .json")
    p.add_argument("--assume", action="append", default=[], metavar="old.KEY=VALUE|new.KEY=VALUE",
                   help="override a fact kstep assumed about OLD or NEW (repeatable)")
    p.add_argument("--no-noise", action="store_true", help="skip the float64 re-run (atol then 1e-5 unless --atol)")


def parse_assume(items: list[str], prefixes: tuple[str, ...] = ()) -> dict:
    """['backend=theano'] -> {'backend': 'theano'}; with prefixes ('old', 'new') -> {'old': {...}, 'new': {...}}."""
    out: dict = {p: {} for p in prefixes} if prefixes else {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--assume {item!r}: expected KEY=VALUE")
        if prefixes:
            side, dot, rest = key.partition(".")
            if side not in prefixes or not rest:
                raise UsageError(f"--assume {item!r}: expected {' or '.join(p + '.KEY' for p in prefixes)}=VALUE")
            out[side][rest] = value
        else:
            out[key] = value
    return out


def cmd_inspect(args) -> int:
    from kstep.describe import describe, to_text
    from kstep.io.load import open_model

    with open_model(args.model, args.weights, parse_assume(args.assume)) as mf:
        doc = describe(mf)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        sys.stdout.write(to_text(doc))
    return ExitCode.OK


def cmd_dump(args) -> int:
    import numpy as np

    from kstep.engine.executor import Executor
    from kstep.io.inputs import read_reference
    from kstep.io.load import open_model

    refuse_inputs(args.output, [args.model, args.input, args.weights])
    with open_model(args.model, args.weights, parse_assume(args.assume)) as mf:
        notes: list[str] = []
        feeds = read_reference(args.input, mf.model, notes, warn_nonfinite=True)
        for note in notes:
            print(printable(note if note.startswith("warning") else f"note: {note}"), file=sys.stderr)
        arrays: dict[str, np.ndarray] = {}
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
            arrays.update(result.keyed_outputs())
            if args.profile:
                print(printable(f"{result.seconds:10.6f} s  {result.key} ({result.layer.kind})"), file=sys.stderr)
        total = time.perf_counter() - start
    if args.profile:
        print(f"{total:10.6f} s  engine total", file=sys.stderr)
    write_atomic(args.output, ".npz", lambda fh: np.savez(fh, **arrays))
    for result in unsupported:
        print(printable(f"{args.model}: layer '{result.key}' ({result.layer.class_name}) is unsupported: "
                        f"{result.unsupported}; upstream layers were written, downstream ones were not"),
              file=sys.stderr)
    return ExitCode.UNSUPPORTED if unsupported else ExitCode.OK


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{flag} {item!r}: expected A=B")
        out[key] = value
    return out


def compare_options(args):
    """argparse namespace -> kstep.compare.analyze.Options."""
    from kstep.compare.analyze import Options

    return Options(**compare_option_values(args))


def compare_option_values(args) -> dict:
    """The compare options checked (a malformed one is a UsageError), as Options' keyword arguments; imports no
    engine, so the app checks its arguments before it opens."""
    from kstep.compare.preprocess import parse

    per_layer = {}
    for layer, spec in _pairs(args.tolerance, "--tolerance").items():
        try:
            atol, rtol = (float(v) for v in spec.split(","))
        except ValueError:
            raise UsageError(f"--tolerance {layer}={spec}: expected ATOL,RTOL") from None
        per_layer[layer] = (atol, rtol)
    assume = parse_assume(args.assume, ("old", "new"))
    return dict(atol=args.atol, rtol=args.rtol, per_layer=per_layer, forced=_pairs(args.map, "--map"),
                pre_old=[parse(x) for x in args.pre_old], pre_new=[parse(x) for x in args.pre_new],
                noise=not args.no_noise, assume_old=assume["old"], assume_new=assume["new"],
                weights_old=args.weights_old, weights_new=args.weights_new)


def exit_code_for(analysis) -> int:
    if analysis.first_divergence is not None and analysis.first_divergence.reason != "unsupported":
        return ExitCode.DIVERGE
    if analysis.first_divergence is not None:
        return ExitCode.UNSUPPORTED
    return ExitCode.OK


OUTPUT_FLAGS = ("-o", "--output", "--format")


def report_command(argv: list[str]) -> list[str]:
    """The command that reproduces a comparison, as the report records it: `kstep report OLD NEW REF [options]`
    without -o/--format, so the app's export and `kstep report` write the same bytes."""
    out, skip = [], False
    for item in argv[1:] if argv and argv[0] == "report" else argv:
        if skip:
            skip = False
            continue
        if item in OUTPUT_FLAGS:
            skip = True
            continue
        if any(item.startswith(flag + "=") for flag in OUTPUT_FLAGS if flag.startswith("--")):
            continue
        out.append(item)
    return ["kstep", "report"] + out


def run_comparison(args, argv: list[str]):
    """Open, compute and close one comparison; returns the finished Analysis."""
    from kstep.compare.analyze import Comparison

    options = compare_options(args)
    comparison = Comparison(args.old, args.new, args.ref, args.ref_new, options, report_command(argv))
    try:
        for _ in comparison.run():
            pass
        return comparison.analysis()
    finally:
        comparison.close()


def cmd_report(args, argv: list[str]) -> int:
    from kstep.report import format_for, write_report

    inputs = [args.old, args.new, args.ref, args.ref_new, args.weights_old, args.weights_new]
    if args.output:
        refuse_inputs(args.output, inputs)
    analysis = run_comparison(args, argv)
    fmt = format_for(args.output, args.format)
    if args.output:
        write_report(analysis, args.output, fmt, inputs)
    else:
        sys.stdout.write(fmt.render(analysis))
    for note in analysis.input_notes:
        if note.startswith("warning"):
            print(printable(note), file=sys.stderr)
    return exit_code_for(analysis)


def build_app_parser() -> argparse.ArgumentParser:
    """`kstep OLD NEW REF [options]`: every `kstep report` option except -o/--format."""
    parser = _Parser(prog="kstep", description="Open the debugger on OLD and NEW stepped through REF (when stdout "
                                               "is not a terminal, print the Markdown report instead).")
    add_compare_options(parser)
    return parser


def cmd_app(args, argv: list[str]) -> int:
    """The debugger; without a terminal on stdout, the Markdown report with `report`'s exit code."""
    if not sys.stdout.isatty():
        import numpy as np

        from kstep.report import FORMATS

        with np.errstate(all="ignore"):
            analysis = run_comparison(args, argv)
        sys.stdout.write(FORMATS["md"].render(analysis))
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
            # The app: nothing here imports numpy, h5py or the engine (the first screen must be quick); cmd_app
            # and the app's worker set numpy's errstate as below.
            return int(cmd_app(build_app_parser().parse_args(argv), argv))
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
        raise UsageError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)})")
    except KstepError as exc:
        print(exc.line(), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - only errors raised inside h5py/libhdf5 are turned into one line
        path = _h5py_failure(exc)
        if path is None:
            raise
        print(printable(f"{path}: cannot be read, the HDF5 structure is corrupt ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"), file=sys.stderr)
        return ExitCode.BAD_INPUT
    except BrokenPipeError:
        return ExitCode.OK
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0)


