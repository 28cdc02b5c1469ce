"""Provides `to_markdown`: the analysis as a Markdown report (the default output of `kstep report`).

Header (files, digests, writers, assumptions, tolerance), the first divergence with its verified diagnosis and the
user action, per-sample verdicts, then a compact table of every layer. Names from the files are escaped for
Markdown and their control characters made visible; no timestamps, so reports are reproducible byte for byte.
"""

from __future__ import annotations

import re

from kstep.analysis import GLYPHS, Analysis, FileInfo, Stats
from kstep.errors import printable

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
    verdict = "agrees" if s.passed else "differs"
    return (f"- {label}: {verdict}; max abs {num(s.max_abs)}, max rel {num(s.max_rel)}, mean abs {num(s.mean_abs)}"
            f"{worst}{nan}")


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
    out.append("")
    f = a.first_divergence
    if f is None:
        if a.agree:
            out += ["## Verdict: the models agree within tolerance", ""]
        else:
            out += ["## Verdict: no divergence before an unsupported layer", ""]
    else:
        row = a.rows[f.row]
        layer = f.old_layer or f.new_layer
        out.append(f"## First divergence: {md(layer)}" + (f" ({md(f.cause)})" if f.cause else ""))
        out.append("")
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
        out += ["## Final outputs", "", "| sample | outputs agree | top-1 OLD | top-1 NEW |", "|---|---|---|---|"]
        for v in a.verdicts:
            out.append(f"| {v.sample} | {'yes' if v.outputs_agree else 'no'} | "
                       f"{'-' if v.top1_old is None else v.top1_old} | {'-' if v.top1_new is None else v.top1_new} |")
        out.append("")
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
