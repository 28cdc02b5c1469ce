"""Provides `to_markdown`: the analysis as a Markdown report (the default output of `kstep report`).

Header (files, digests, writers, assumptions, tolerance), the first divergence with its verified diagnosis and the
user action, per-sample verdicts, then a compact table of every layer. Names from the files are escaped for
Markdown and their control characters made visible; no timestamps, so reports are reproducible byte for byte.
"""

from __future__ import annotations

import re

from kstep.analysis import GLYPHS, Analysis, FileInfo, Stats
from kstep.errors import printable
from kstep.report.fixes import changes, fixability, fixes_verdict
from kstep.report.profile import sparkline, sparkline_caption
from kstep.report.samples import counts, summary_line, top, worst_verdicts

_MD_SPECIAL = re.compile(r"([\\`*\[\]<|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md(text) -> str:
    """Escape a string from a file for Markdown text (and make control characters visible)."""
    return _MD_SPECIAL.sub(r"\\\1", printable(str(text)))


def code(text) -> str:
    """A string from a file as a Markdown code span (backslashes are literal there; backticks are replaced)."""
    return "`" + printable(str(text)).replace("`", "\u2018") + "`"


def num(x) -> str:
    if x is None:
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    return f"{x:.2e}"


def shape(s) -> str:
    return "-" if s is None else "(" + ", ".join(str(d) for d in s) + ")"


def _file_lines(label: str, f: FileInfo) -> list[str]:
    lines = [f"- **{label}**: {code(f.path)} sha256 `{f.sha256[:16]}…`; keras_version "
             f"{md(f.keras_version) if f.keras_version else 'not stored'}, backend "
             f"{md(f.backend) if f.backend else 'not stored'}; executed as {f.generation} on {f.detected_backend}"]
    for key, value, source, why in f.assumptions:
        lines.append(f"  - {md(key)} = {md(value)} ({source}: {md(why)}; override with "
                     f"{code('--assume ' + label.lower() + '.' + str(key) + '=…')})")
    return lines


def _stats_line(label: str, s: Stats | None) -> str:
    if s is None:
        return f"- {label}: not computed"
    worst = ""
    if s.worst_index is not None:
        worst = f"; worst element {list(s.worst_index)}: OLD {s.worst_old:.6g}, NEW {s.worst_new:.6g}"
    nan = f"; NaN mismatches {s.nan_mismatch}" if s.nan_mismatch else ""
    counts = [f"{k} {n}" for k, n in (("NaN OLD", s.nan_old), ("NaN NEW", s.nan_new), ("inf OLD", s.inf_old),
                                      ("inf NEW", s.inf_new)) if n]
    nan += "; " + ", ".join(counts) if counts else ""
    verdict = "agrees" if s.passed else "differs"
    over = f" on {s.samples_beyond} of {s.samples} samples" if s.samples > 1 and not s.passed else ""
    return (f"- {label}: {verdict}{over}; max abs {num(s.max_abs)}, max rel {num(s.max_rel)}, mean abs "
            f"{num(s.mean_abs)}{worst}{nan}")


def samples_text(a: Analysis) -> str:
    """How the sample set was compared."""
    s = a.samples
    chunks = ("one chunk" if s.chunks == 1 else
              f"{s.chunks} chunks (the first {s.noise_samples}, then up to {s.chunk} each)")
    return (f"{s.count} (reference samples {s.first}..{s.first + s.count - 1}); float32 noise measured on the first "
            f"{s.noise_samples}; {chunks} under --max-memory {s.max_memory / 2**20:.0f} MiB")


def _verdicts(a: Analysis) -> list[str]:
    """The final outputs per sample: the counts, then the worst samples by final max |Δ|."""
    c = counts(a)
    shown = worst_verdicts(a)
    out = ["## Final outputs", "",
           f"{c.samples - c.differ} of {c.samples} samples agree at the final outputs"
           + (f"; top-1 changes on {c.flipped} of {c.top1}" if c.top1 else "")
           + (f"; top-5 set changes on {c.top5_changed} of {c.top5}" if c.top5 else "") + ".", ""]
    if len(shown) < c.samples:
        out += [f"The {len(shown)} samples with the largest final max \\|Δ\\| (all {c.samples} are in the JSON "
                "report):", ""]
    out += ["| sample | outputs agree | max abs | top-1 OLD | top-1 NEW | top-5 OLD | top-5 NEW | first failing row |",
            "|---|---|---|---|---|---|---|---|"]
    for v in shown:
        out.append(f"| {v.sample} | {'yes' if v.outputs_agree else 'no'} | {num(v.max_abs)} | "
                   f"{'-' if v.top1_old is None else v.top1_old} | {'-' if v.top1_new is None else v.top1_new} | "
                   f"{top(v.top5_old)} | {top(v.top5_new)} | {'-' if v.first_row is None else v.first_row} |")
    out.append("")
    return out


def _fixes(a: Analysis) -> list[str]:
    """`kstep fix`'s section: every fix applied to NEW, and the verdict on OLD vs FIXED."""
    out = ["## Fixes applied", "", md(fixes_verdict(a)) + ".", "",
           "| # | cause | NEW layer | change | gap before | gap after |", "|---|---|---|---|---|---|"]
    for i, fix in enumerate(a.fixes, 1):
        out.append(f"| {i} | {md(fix.cause)} | {md(fix.layer)} | {md(changes(fix))} | {num(fix.before)} | "
                   f"{num(fix.after)} |")
    return out + [""]


def to_markdown(a: Analysis) -> str:
    out = ["# kstep report", ""]
    out += _file_lines("OLD", a.old)
    out += _file_lines("NEW", a.new)
    out.append(f"- kstep {md(a.kstep_version)}; command: {code(' '.join(a.command))}")
    out.append(f"- tolerance: \\|new − old\\| ≤ atol + rtol·\\|old\\|; {md(a.tolerance.source)}"
               + (f" (atol {num(a.tolerance.atol)}, rtol {num(a.tolerance.rtol)})" if a.tolerance.user_given else ""))
    for note in a.input_notes:
        out.append(f"- note: {md(note)}")
    if not a.complete:
        done = sum(1 for r in a.rows if r.status != "pending")
        out.append(f"- partial: exported while the analysis was running ({done} of {len(a.rows)} layers judged)")
    if a.samples.count > 1 or len(a.verdicts) > 1:
        out.append(f"- samples: {samples_text(a)}")
        for note in a.samples.notes:
            out.append(f"- note: {md(note)}")
    out.append("")
    if a.complete and a.verdicts:
        out += [f"**{md(summary_line(a))}**", ""]
    if a.fixes:
        out += _fixes(a)
    f = a.first_divergence
    spark = sparkline(a)
    profile = [f"`{spark}` {md(sparkline_caption(a))}", ""] if spark.strip() else []
    if f is None:
        if a.agree:
            out += ["## Verdict: the models agree within tolerance", ""] + profile
        else:
            out += ["## Verdict: no divergence before an unsupported layer", ""] + profile
    else:
        row = a.rows[f.row]
        layer = f.old_layer or f.new_layer
        out.append(f"## First divergence: {md(layer)}" + (f" ({md(f.cause)})" if f.cause else ""))
        out.append("")
        out += profile
        if row.old or row.new:
            out.append(f"- layer: OLD {code(f.old_layer or '-')} / NEW {code(f.new_layer or '-')}, kind "
                       f"{md(row.side.kind)}; shapes {shape(row.old.shape if row.old else None)} / "
                       f"{shape(row.new.shape if row.new else None)}; compared as {md(row.layout)}")
        out.append(f"- reason: {f.reason}; {md(f.summary)}")
        if row.propagated is not None or row.isolated is not None:
            out.append(_stats_line("propagated", row.propagated))
            out.append(_stats_line("isolated (NEW layer fed OLD's inputs)", row.isolated))
        for w in row.weights:
            out.append(f"- weight {code(w.name_new or w.name_old)} {shape(w.shape_old)}: {md(str(w.verdict))}"
                       + (f" (max abs {num(w.max_abs)})" if w.max_abs else ""))
        for key, old, new in row.config_diff:
            out.append(f"- config {code(key)}: OLD {md(repr(old))}, NEW {md(repr(new))}")
        out.append("")
        out.append("### Diagnosis")
        out.append("")
        explained = [h for h in f.hypotheses if h.explains]
        if f.cause and explained:
            h = explained[0]
            out.append(f"**{md(h.code)}**: {md(h.title)}. With the fix the gap goes from {num(h.before)} to "
                       f"{num(h.after)}.")
            out.append("")
            out.append(f"Action: {md(h.action)}.")
            words = fixability(h)
            if words:
                out += ["", md(words) + "."]
        elif f.cause:
            out.append(f"**{md(f.cause)}**: {md(f.summary)}")
        else:
            out.append("No known migration cause closes the gap; the hypotheses tried are listed below.")
        if f.hypotheses:
            out += ["", "| hypothesis | explains | before | after |", "|---|---|---|---|"]
            for h in f.hypotheses:
                out.append(f"| {md(h.code)} | {'yes' if h.explains else 'no'} | {num(h.before)} | {num(h.after)} |")
        out.append("")
    if a.verdicts:
        out += _verdicts(a)
    out += ["## Layers", "", "| # | st | OLD layer | NEW layer | kind | out shape | max abs | max rel | isolated |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in a.rows:
        side = r.side
        prop, iso = r.propagated, r.isolated
        out.append(f"| {r.index} | {GLYPHS[r.status]} {r.status} | {md(r.old.key) if r.old else '-'} | "
                   f"{md(r.new.key) if r.new else '-'} | {md(side.kind)} | {shape(side.shape)} | "
                   f"{num(prop.max_abs) if prop is not None else '-'} | "
                   f"{num(prop.max_rel) if prop is not None else '-'} | "
                   f"{num(iso.max_abs) if iso is not None else '-'} |")
    out.append("")
    return "\n".join(out)
