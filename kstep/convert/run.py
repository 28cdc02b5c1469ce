"""Provides `kstep convert` end to end: MODEL read (kstep.io), baked for the target (kstep.convert.bake), written by
the target's writer (kstep.write.targets) to a temporary file beside OUT, re-read **from disk** and compared with
MODEL layer by layer (on `--check REF`, or a seeded random input), and renamed into place only when they agree (or
with --keep-on-diverge).

Exit codes: 0 OUT written and agreeing; 1 they disagree (OUT not kept unless --keep-on-diverge); 2 bad input or an
output path refused; 3 a layer the target cannot express (nothing written). MODEL is never modified. Inference only:
no training configuration or optimizer state is carried over.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from kstep.analysis import Analysis, exit_code
from kstep.compare.once import compare_once
from kstep.convert.bake import Baked, bake
from kstep.convert.check_input import random_feeds, write_feeds
from kstep.convert.graph import walk
from kstep.convert.target import Layout, Target
from kstep.errors import BadInput, ExitCode
from kstep.io.load import open_model
from kstep.ir import ModelSpec
from kstep.options import CompareOptions
from kstep.outputs import new_file_mode, refuse_inputs, refuse_special


@dataclass(frozen=True)
class ConvertRequest:
    """What `kstep convert` was asked: MODEL (and its weights), OUT and its target, the layout, the check input."""

    model: str
    output: str
    target: Target
    layout: Layout = Layout.CHANNELS_LAST
    weights: str | None = None
    assume: tuple[tuple[str, str], ...] = ()
    check: str | None = None
    keep_on_diverge: bool = False
    command: tuple[str, ...] = ()


@dataclass
class ConvertResult:
    """The check's analysis (MODEL vs OUT from disk; None when nothing was written), the baking's transforms,
    the path written (or None), the exit code and the summary lines."""

    analysis: Analysis | None
    transforms: tuple[str, ...]
    written: str | None
    exit_code: ExitCode
    lines: list[str] = field(default_factory=list)


def check_output(req: ConvertRequest) -> None:
    """Refuse OUT before any work: not a regular file, an input (also through links), a missing directory."""
    refuse_inputs(req.output, [req.model, req.weights, req.check])
    directory = os.path.dirname(os.path.abspath(req.output))
    if not os.path.isdir(directory):
        raise BadInput(f"cannot write OUT here: the directory {directory} does not exist", path=req.output)


def run_convert(req: ConvertRequest) -> ConvertResult:
    """Everything `kstep convert` does after parsing (see the module docstring)."""
    from kstep.write.targets import write_target

    check_output(req)
    with open_model(req.model, req.weights, dict(req.assume)) as mf:
        baked: Baked = bake(mf, req.target, req.layout)
        tmp = _temp_beside(req.output, os.path.splitext(req.output)[1])
        temps = [tmp]
        try:
            write_target(baked.model, req.target, tmp)
            os.chmod(tmp, new_file_mode())
            workdir = tempfile.mkdtemp(prefix="kstep-convert-")
            try:
                ref = req.check or write_feeds(random_feeds(mf.model), workdir)
                options = CompareOptions(assume_old=dict(req.assume), weights_old=req.weights, outputs_only=True)
                analysis = compare_once(req.model, tmp, ref, None, options, list(req.command))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            analysis.new = dataclasses.replace(analysis.new, path=req.output)
            code = exit_code(analysis)
            lines = [f"{_count(mf.model)} layer(s) in MODEL -> {_count(baked.model)} in OUT; "
                     f"{len(baked.transforms)} transform(s):"] + [f"  {t}" for t in baked.transforms]
            lines.append("inference only: no training configuration or optimizer state is written")
            on = f"on {req.check}" if req.check else "on a seeded random input"
            if code is ExitCode.OK or req.keep_on_diverge:
                refuse_special(req.output)
                os.replace(tmp, req.output)
                temps = []
                verdict = ("agrees with MODEL" if code is ExitCode.OK
                           else "does NOT agree with MODEL (--keep-on-diverge)")
                lines.append(f"wrote {req.output} ({req.target.value}): re-read from disk, it {verdict} {on}")
                return ConvertResult(analysis, baked.transforms, req.output, code, lines)
            if code is ExitCode.UNSUPPORTED:
                lines.append(f"the check {on} met a layer kstep cannot execute, so it could not prove OUT: nothing "
                             "written (--keep-on-diverge keeps it; --report FILE says where)")
                return ConvertResult(analysis, baked.transforms, None, code, lines)
            lines.append(f"OUT, re-read from disk, does not agree with MODEL {on}: nothing written "
                         "(--keep-on-diverge keeps it; --report FILE says where)")
            return ConvertResult(analysis, baked.transforms, None, code, lines)
        except OSError as exc:
            raise BadInput(f"cannot write OUT: {exc.strerror or exc}", path=req.output) from None
        finally:
            for t in temps:
                if os.path.exists(t):
                    os.unlink(t)


def _count(model: ModelSpec) -> int:
    """Layers of `model`, nested models' layers included (a nested model counts as one more)."""
    return sum(1 for _ in walk(model))


def _temp_beside(path: str, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=".kstep-convert-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    return tmp
