"""Provides `kstep fix` end to end: the rounds (kstep.repair.loop), FIXED written beside its final path in NEW's
own format (kstep.write.formats), re-opened **from disk** and compared with OLD from scratch, then renamed into
place only when it agrees (or with --keep-on-diverge).

Exit codes: 0 FIXED written and agreeing with OLD (or the pair already agreed: nothing written); 1 a divergence
remains (nothing written unless --keep-on-diverge); 2 bad input, an output path refused, or a NEW kstep reads but
cannot write; 3 stopped at an unsupported layer. NEW (and every input) is never modified.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable

from kstep.analysis import Analysis, exit_code
from kstep.errors import BadInput, ExitCode, KstepError
from kstep.io.load import open_model
from kstep.options import CompareOptions
from kstep.outputs import new_file_mode, refuse_inputs, refuse_special
from kstep.repair.loop import Outcome, Stop, compare, run_rounds
from kstep.repair.patch import find_layer
from kstep.write.formats import check_name, check_writable, write_fixed


@dataclass(frozen=True)
class FixRequest:
    """What `kstep fix` was asked: the files, the comparison's options, where FIXED goes and how."""

    old: str
    new: str
    ref: str
    ref_new: str | None
    options: CompareOptions
    command: list[str]
    output: str
    arch_out: str | None = None
    dry_run: bool = False
    keep_on_diverge: bool = False
    accept_old_weights: frozenset[str] = frozenset()


@dataclass
class FixResult:
    """The final analysis (OLD vs FIXED from disk when one was written, else OLD vs NEW as edited in memory), its
    fixes, the path written (or None), the exit code and the lines to print on stderr."""

    analysis: Analysis
    outcome: Outcome
    written: str | None
    exit_code: ExitCode
    lines: list[str] = field(default_factory=list)


def check_outputs(req: FixRequest) -> None:
    """Refuse outputs before any work: a device/FIFO/directory, an input (also through links), a missing
    directory, -o equal to --arch-out."""
    inputs = [req.old, req.new, req.ref, req.ref_new, req.options.weights_old, req.options.weights_new,
              *req.options.more_refs]
    for out in (req.output, req.arch_out):
        if out is None:
            continue
        refuse_inputs(out, inputs)
        directory = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(directory):
            raise BadInput(f"cannot write FIXED here: the directory {directory} does not exist", path=out)
    if req.arch_out is not None and os.path.abspath(req.arch_out) == os.path.abspath(req.output):
        raise BadInput("-o and --arch-out name the same file", path=req.output)
    with open_model(req.new, req.options.weights_new, dict(req.options.assume_new)) as mf:
        check_writable(mf)
        check_name(mf, req.options.weights_new, req.output)
        for name in sorted(req.accept_old_weights):
            try:
                find_layer(mf.model, name)
            except KstepError:
                raise BadInput(f"--accept-old-weights {name}: NEW has no layer of that name", path=req.new) from None


def _exit_for(outcome: Outcome, analysis: Analysis) -> ExitCode:
    """The final analysis's verdict (`kstep.analysis.exit_code`, the rule `report` uses too)."""
    return exit_code(analysis)


def why_stopped(outcome: Outcome) -> str:
    """One line on why the rounds stopped where they did."""
    first = outcome.analysis.first_divergence
    where = f"{first.new_layer or first.old_layer}" if first is not None else ""
    if outcome.stop is Stop.AGREE:
        return "the models agree"
    if outcome.stop is Stop.UNSUPPORTED:
        return f"stopped at an unsupported layer {where}".rstrip()
    if outcome.stop is Stop.NO_PROGRESS:
        return f"the fix for {first.cause if first else '?'} at {where} did not close the gap in the whole model"
    if outcome.stop is Stop.TOO_MANY:
        return "stopped after too many rounds"
    if outcome.blocker is not None and outcome.blocker.unfixable:
        return f"{first.cause if first else '?'} at {where} cannot be fixed in NEW's file: {outcome.blocker.unfixable}"
    cause = first.cause if first is not None else None
    return f"the divergence at {where} has no verified fix" + (f" ({cause})" if cause else "")


def run_fix(req: FixRequest, progress: Callable[[str], None] | None = None) -> FixResult:
    """Everything `kstep fix` does after parsing (see the module docstring)."""
    check_outputs(req)
    outcome = run_rounds(req.old, req.new, req.ref, req.ref_new, req.options, req.command, progress,
                         req.accept_old_weights)
    analysis = outcome.analysis
    analysis.fixes = list(outcome.fixes)
    lines = []
    if not outcome.fixes:
        if outcome.stop is Stop.AGREE:
            lines.append("the models already agree: nothing to fix, nothing written")
        else:
            lines.append(f"nothing fixed, nothing written: {why_stopped(outcome)}")
        return FixResult(analysis, outcome, None, _exit_for(outcome, analysis), lines)
    if outcome.stop is not Stop.AGREE:
        lines.append(f"a divergence remains after {len(outcome.fixes)} fix(es): {why_stopped(outcome)}")
    if req.dry_run:
        lines.append("--dry-run: nothing written")
        return FixResult(analysis, outcome, None, _exit_for(outcome, analysis), lines)
    if outcome.stop is not Stop.AGREE and not req.keep_on_diverge:
        lines.append("nothing written (--keep-on-diverge writes FIXED with the fixes that applied)")
        return FixResult(analysis, outcome, None, _exit_for(outcome, analysis), lines)
    try:
        return _write_and_verify(req, outcome, lines)
    except OSError as exc:  # a directory that cannot be written, a full disk: bad output, not kstep's failure
        raise BadInput(f"cannot write FIXED: {exc.strerror or exc}", path=req.output) from None


def _temp_beside(path: str, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=".kstep-fix-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    return tmp


def _write_and_verify(req: FixRequest, outcome: Outcome, lines: list[str]) -> FixResult:
    suffix = os.path.splitext(req.new if req.options.weights_new is None else req.options.weights_new)[1] or ".h5"
    tmp = _temp_beside(req.output, suffix)
    arch_tmp = _temp_beside(req.arch_out, ".json") if req.arch_out else None
    temps = [t for t in (tmp, arch_tmp) if t]
    try:
        with open_model(req.new, req.options.weights_new, dict(req.options.assume_new)) as mf:
            notes = write_fixed(mf, req.options.weights_new, outcome.edits, tmp, arch_tmp, outcome.supplied)
            json_model = mf.format.startswith("json")
        for t in temps:  # mkstemp made them 0600: FIXED gets the mode any new file would
            os.chmod(t, new_file_mode())
        if json_model:  # FIXED is the weights file; the architecture is --arch-out's, or NEW's own
            model, options = arch_tmp or req.new, dataclasses.replace(req.options, weights_new=tmp)
        else:
            model, options = tmp, req.options
        analysis = compare(req.old, model, req.ref, req.ref_new, options, req.command)
        analysis.fixes = list(outcome.fixes)
        analysis.new = dataclasses.replace(analysis.new, path=req.output if not json_model else
                                           (req.arch_out or req.new))
        lines.extend(f"note: {n}" for n in notes)
        code = _exit_for(outcome, analysis)
        if code is ExitCode.OK or req.keep_on_diverge:
            moves: list[tuple[str | None, str | None]] = [(tmp, req.output), (arch_tmp, req.arch_out)]
            for written, final in moves:
                if written and final:
                    refuse_special(final)
                    os.replace(written, final)
            temps = []
            lines.append(f"wrote {req.output}" + (f" and {req.arch_out}" if req.arch_out else "") +
                         (": it agrees with OLD (re-read from disk and compared from scratch)" if code is ExitCode.OK
                          else ": a divergence remains (--keep-on-diverge)"))
            return FixResult(analysis, outcome, req.output, code, lines)
        lines.append("FIXED, re-read from disk, does not agree with OLD: nothing written")
        return FixResult(analysis, outcome, None, code, lines)
    finally:
        for t in temps:
            if os.path.exists(t):
                os.unlink(t)
