"""Provides `to_html`: the Markdown report's content as one self-contained HTML page, every string escaped."""

from __future__ import annotations

import html

from kstep.analysis import GLYPHS, Analysis
from kstep.errors import printable
from kstep.report.fixes import changes, fixability, fixes_verdict
from kstep.report.heatmap import svg_heatmaps, where
from kstep.report.profile import svg_chart
from kstep.report.samples import counts, summary_line, top, worst_verdicts
from kstep.report.to_markdown import num, samples_text, shape

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-family:monospace}
.diverge,.mismatch{background:#fdd}.inherited{background:#ffd}.agree,.noise{background:#efe}.unsupported{background:#eee}"""


def h(text) -> str:
    return html.escape(printable(str(text)), quote=True)


def _verdicts(a: Analysis) -> list[str]:
    """The final outputs per sample: the counts, then the worst samples by final max |Δ|."""
    c = counts(a)
    shown = worst_verdicts(a)
    out = ["<h2>Final outputs</h2>", f"<p>{c.samples - c.differ} of {c.samples} samples agree at the final outputs"
           + (f"; top-1 changes on {c.flipped} of {c.top1}" if c.top1 else "")
           + (f"; top-5 set changes on {c.top5_changed} of {c.top5}" if c.top5 else "") + ".</p>"]
    if len(shown) < c.samples:
        out.append(f"<p>The {len(shown)} samples with the largest final max |Δ| (all {c.samples} are in the JSON "
                   "report):</p>")
    out.append("<table><tr><th>sample</th><th>outputs agree</th><th>max abs</th><th>top-1 OLD</th><th>top-1 NEW</th>"
               "<th>top-5 OLD</th><th>top-5 NEW</th><th>first failing row</th></tr>")
    for v in shown:
        out.append(f"<tr class=\"{'agree' if v.outputs_agree else 'diverge'}\"><td>{v.sample}</td>"
                   f"<td>{'yes' if v.outputs_agree else 'no'}</td><td>{num(v.max_abs)}</td>"
                   f"<td>{'-' if v.top1_old is None else v.top1_old}</td>"
                   f"<td>{'-' if v.top1_new is None else v.top1_new}</td><td>{top(v.top5_old)}</td>"
                   f"<td>{top(v.top5_new)}</td><td>{'-' if v.first_row is None else v.first_row}</td></tr>")
    out.append("</table>")
    return out


def to_html(a: Analysis) -> str:
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>kstep report</title>",
           f"<style>{STYLE}</style></head><body>", "<h1>kstep report</h1>", "<ul>"]
    for label, info in (("OLD", a.old), ("NEW", a.new)):
        out.append(f"<li><b>{label}</b>: <code>{h(info.path)}</code> sha256 <code>{h(info.sha256[:16])}…</code>; "
                   f"keras_version {h(info.keras_version or 'not stored')}, backend {h(info.backend or 'not stored')}; "
                   f"executed as {h(info.generation)} on {h(info.detected_backend)}<ul>")
        for key, value, source, why in info.assumptions:
            out.append(f"<li>{h(key)} = {h(value)} ({h(source)}: {h(why)}; override with "
                       f"<code>--assume {label.lower()}.{h(key)}=…</code>)</li>")
        out.append("</ul></li>")
    out.append(f"<li>kstep {h(a.kstep_version)}; command: <code>{h(' '.join(a.command))}</code></li>")
    given = f" (atol {num(a.tolerance.atol)}, rtol {num(a.tolerance.rtol)})" if a.tolerance.user_given else ""
    out.append(f"<li>tolerance: |new − old| ≤ atol + rtol·|old|; {h(a.tolerance.source)}{given}</li>")
    for note in a.input_notes:
        out.append(f"<li>note: {h(note)}</li>")
    if a.samples.count > 1 or len(a.verdicts) > 1:
        out.append(f"<li>samples: {h(samples_text(a))}</li>")
        out += [f"<li>note: {h(note)}</li>" for note in a.samples.notes]
    out.append("</ul>")
    if a.complete and a.verdicts:
        out.append(f"<p><b>{h(summary_line(a))}</b></p>")
    if a.fixes:
        out += ["<h2>Fixes applied</h2>", f"<p>{h(fixes_verdict(a))}.</p>", "<table><tr><th>#</th><th>cause</th>"
                "<th>NEW layer</th><th>change</th><th>gap before</th><th>gap after</th></tr>"]
        out += [f"<tr><td>{i}</td><td>{h(x.cause)}</td><td>{h(x.layer)}</td><td>{h(changes(x))}</td>"
                f"<td>{num(x.before)}</td><td>{num(x.after)}</td></tr>" for i, x in enumerate(a.fixes, 1)]
        out.append("</table>")
    chart = svg_chart(a)
    if chart:
        out += ["<h2>Error along depth</h2>", f"<figure>{chart}<figcaption>Each layer's excess over its relative "
                "tolerance, max(|Δ| − rtol·|old|), propagated (solid) and isolated (dashed); a point above the "
                "shaded atol band fails. Hover a marker for its layer.</figcaption></figure>"]
    maps = svg_heatmaps(a.heatmaps)
    if maps and a.heatmaps is not None:
        out += [f"<figure>{maps}<figcaption>The first divergence's output: {where(a.heatmaps)}. OLD and NEW share "
                "one colour scale, |Δ| has its own from 0; magenta cells are NaN or inf.</figcaption></figure>"]
    f = a.first_divergence
    if f is None:
        out.append("<h2>Verdict: the models agree within tolerance</h2>" if a.agree else
                   "<h2>Verdict: no divergence before an unsupported layer</h2>")
    else:
        out.append(f"<h2>First divergence: {h(f.old_layer or f.new_layer)}"
                   + (f" ({h(f.cause)})" if f.cause else "") + "</h2>")
        out.append(f"<p>reason: {h(f.reason)}; {h(f.summary)}</p>")
        explained = [x for x in f.hypotheses if x.explains]
        if explained:
            x = explained[0]
            out.append(f"<p><b>{h(x.code)}</b>: {h(x.title)}. With the fix the gap goes from {num(x.before)} to "
                       f"{num(x.after)}.</p><p>Action: {h(x.action)}.</p>")
            words = fixability(x)
            if words:
                out.append(f"<p>{h(words)}.</p>")
        elif not f.cause:
            out.append("<p>No known migration cause closes the gap.</p>")
        if f.hypotheses:
            out.append("<table><tr><th>hypothesis</th><th>explains</th><th>before</th><th>after</th></tr>")
            for x in f.hypotheses:
                out.append(f"<tr><td>{h(x.code)}</td><td>{'yes' if x.explains else 'no'}</td>"
                           f"<td>{num(x.before)}</td><td>{num(x.after)}</td></tr>")
            out.append("</table>")
    if a.verdicts:
        out += _verdicts(a)
    out.append("<h2>Layers</h2><table><tr><th>#</th><th>st</th><th>OLD layer</th><th>NEW layer</th><th>kind</th>"
               "<th>out shape</th><th>max abs</th><th>max rel</th><th>isolated</th></tr>")
    for r in a.rows:
        side = r.side
        p, i = r.propagated, r.isolated
        out.append(f"<tr class=\"{h(r.status)}\"><td>{r.index}</td><td>{h(GLYPHS[r.status])} {h(r.status)}</td>"
                   f"<td>{h(r.old.key) if r.old else '-'}</td><td>{h(r.new.key) if r.new else '-'}</td>"
                   f"<td>{h(side.kind)}</td><td>{h(shape(side.shape))}</td>"
                   f"<td>{num(p.max_abs) if p is not None else '-'}</td>"
                   f"<td>{num(p.max_rel) if p is not None else '-'}</td>"
                   f"<td>{num(i.max_abs) if i is not None else '-'}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"
