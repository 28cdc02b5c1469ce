"""Provides the `kstep convert` command line: its arguments and the command (the work is kstep.convert.run). Nothing
here imports numpy, h5py or the engine at import time (the debugger's first screen must be quick)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kstep.convert.target import Layout, Target
from kstep.errors import printable
from kstep.options import DEBUG_HELP, parse_assume
from kstep.outputs import refuse_inputs


def add_convert_parser(sub: Any, formats: tuple[str, ...]) -> None:
    """`kstep convert`'s subparser on `sub` (argparse's subparsers action); `formats`: the report formats."""
    c = sub.add_parser("convert", help="write MODEL as a tf.keras .h5 or Keras 3 .keras file that computes the same",
                       description="Read MODEL (any Keras generation kstep reads), carry every version quirk into "
                                   "the target's explicit form (Theano kernel flips and padding, Keras 1 layers, "
                                   "channels_first -> channels_last), write OUT, re-read it from disk and compare "
                                   "it with MODEL layer by layer before renaming it into place. Inference only. "
                                   "Exit 0: OUT written and agrees; 1: they disagree (nothing written unless "
                                   "--keep-on-diverge); 2: bad input or usage; 3: a layer the target cannot express "
                                   "(nothing written); 4: kstep's own failure.")
    c.add_argument("model", metavar="MODEL", help="model file: .h5, .keras, or architecture .json (with --weights)")
    c.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="OUT.h5 (tf.keras 2 legacy HDF5) or OUT.keras (Keras 3 archive)")
    c.add_argument("--to", choices=[t.value for t in Target], help="the target (default: from OUT's extension)")
    c.add_argument("--layout", choices=[x.value for x in Layout], default=Layout.CHANNELS_LAST.value,
                   help="channels_last (default: TensorFlow runs no channels_first convolution on CPU) or keep")
    c.add_argument("--weights", metavar="W.h5", help="weights file for an architecture .json MODEL")
    c.add_argument("--assume", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fact kstep had to assume about MODEL (repeatable)")
    c.add_argument("--check", metavar="REF", help="compare MODEL and OUT on this input (default: a seeded random "
                                                  "input of MODEL's input shape)")
    c.add_argument("--keep-on-diverge", action="store_true", help="keep OUT even when it does not agree with MODEL")
    c.add_argument("--report", metavar="FILE", help="write the check's full comparison report here (md/json/html)")
    c.add_argument("--format", choices=formats, help="the report's format (default: from --report's suffix)")
    c.add_argument("--debug", action="store_true", help=DEBUG_HELP)


def cmd_convert(args: argparse.Namespace, argv: list[str]) -> int:
    """`kstep convert MODEL -o OUT`: kstep.convert.run; the summary on stderr, the report in --report FILE."""
    from kstep.convert.run import ConvertRequest, run_convert
    from kstep.report import format_for, write_report

    target = Target.for_output(args.output, Target(args.to) if args.to else None)
    inputs = [args.model, args.weights, args.check]
    if args.report:
        refuse_inputs(args.report, inputs + [args.output])
    req = ConvertRequest(args.model, args.output, target, Layout(args.layout), args.weights,
                         tuple(parse_assume(args.assume).items()), args.check, args.keep_on_diverge,
                         ("kstep", *argv))
    result = run_convert(req)
    if args.report and result.analysis is not None:
        write_report(result.analysis, args.report, format_for(args.report, args.format), inputs)
    for line in result.lines:
        print(printable(line), file=sys.stderr)
    return int(result.exit_code)
