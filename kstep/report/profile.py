"""Provides the error along depth at a glance: a one-line Unicode sparkline of log10 max |Δ| per layer (Markdown
report, `kstep report`'s stdout) and an inline SVG chart of each layer's excess over its relative tolerance (HTML
report: no script, works offline and printed).

Both read numbers the analysis already holds (kstep.analysis.Stats `max_abs` and `excess` = max(|Δ| - rtol·|old|),
the smallest atol under which the row passes), in OLD's execution order. In the chart a point above its layer's
atol band always means the comparison failed; zero (or a negative excess) sits on the axis floor, inf/NaN on a
marker at the top; statuses differ by marker shape, not only colour; every marker has a `<title>` (hover).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from kstep.analysis import DIVERGE, INHERITED, MISMATCH, Analysis, Stats, Status
from kstep.errors import printable

BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Point:
    """One row's numbers for the pictures: its excess (propagated, isolated) and the atol it was judged with."""

    index: int
    name: str
    status: Status
    propagated: float | None
    isolated: float | None
    atol: float | None
    max_abs: float | None


def _excess(s: Stats | None) -> float | None:
    return None if s is None else s.excess


def points(a: Analysis) -> list[Point]:
    """The compared rows (those with a propagated statistic), in OLD's order."""
    return [Point(r.index, r.name, r.status, _excess(r.propagated), _excess(r.isolated),
                  r.propagated.tolerance.atol, r.propagated.max_abs)
            for r in a.rows if r.propagated is not None]


@dataclass(frozen=True)
class SparkCell:
    """One character of the sparkline and the rows (Row.index, OLD's order) it stands for (several beyond the
    width); status: the most severe of their statuses (the debugger colours by it; the glyph says the level)."""

    char: str
    rows: tuple[int, ...]
    status: Status


SEVERITY = {s: i for i, s in enumerate(Status)}


def spark_cells(a: Analysis, width: int = 72) -> list[SparkCell]:
    """log10 max |Δ| along depth in Unicode blocks, one block per layer (several per block beyond `width`, the
    largest shown); ' ' for exactly 0, '!' for inf/NaN. Empty when nothing was compared."""
    pts = points(a)
    if not pts or width < 1:
        return []
    per = max(1, math.ceil(len(pts) / width))
    buckets = [pts[i:i + per] for i in range(0, len(pts), per)]
    worst = [max((p.max_abs for p in b if p.max_abs is not None), default=None,
                 key=lambda v: (math.isnan(v), v)) for b in buckets]
    finite = [math.log10(v) for v in worst if v is not None and v > 0 and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    out = []
    for v, bucket in zip(worst, buckets):
        if v is None or v == 0:
            char = " " if v == 0 else "·"
        elif not math.isfinite(v):
            char = "!"
        else:
            level = 0 if hi == lo else int((math.log10(v) - lo) / (hi - lo) * (len(BLOCKS) - 1) + 0.5)
            char = BLOCKS[level]
        out.append(SparkCell(char, tuple(p.index for p in bucket), max((p.status for p in bucket),
                                                                         key=SEVERITY.__getitem__)))
    return out


def sparkline(a: Analysis, width: int = 72) -> str:
    """The sparkline as one string (`spark_cells`' characters)."""
    return "".join(c.char for c in spark_cells(a, width))


def spark_range(a: Analysis) -> str:
    """The finite, non-zero max |Δ| range the sparkline spans ('all 0' when there is none)."""
    values = [p.max_abs for p in points(a) if p.max_abs is not None and p.max_abs > 0 and math.isfinite(p.max_abs)]
    return f"{min(values):.1e} .. {max(values):.1e}" if values else "all 0"


def sparkline_caption(a: Analysis) -> str:
    """What the sparkline shows, with its range."""
    layers = len(points(a))
    return f"log max |Δ| along depth, {layers} layers in OLD's order ({spark_range(a)}; ' ' = 0, '!' = inf/NaN)"


# --- the SVG chart -----------------------------------------------------------------------------------------------

W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 64, 16, 28, 44
MARKERS = {DIVERGE: "cross", MISMATCH: "cross", INHERITED: "triangle"}  # else a circle
PROP, ISO, BAND, MARK = "#c0392b", "#2e86c1", "#d5f5e3", "#7d3c98"


def _log(v: float | None) -> float | None:
    return math.log10(v) if v is not None and v > 0 and math.isfinite(v) else None


def _marker(shape: str, x: float, y: float, title: str, colour: str) -> str:
    t = f"<title>{title}</title>"
    if shape == "cross":
        return (f'<g stroke="{colour}" stroke-width="2">{t}<line x1="{x - 4:.1f}" y1="{y - 4:.1f}" x2="{x + 4:.1f}" '
                f'y2="{y + 4:.1f}"/><line x1="{x - 4:.1f}" y1="{y + 4:.1f}" x2="{x + 4:.1f}" y2="{y - 4:.1f}"/></g>')
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x - 4.5:.1f},{y + 4:.1f} {x + 4.5:.1f},{y + 4:.1f}" '
                f'fill="white" stroke="{colour}" stroke-width="1.5">{t}</polygon>')
    if shape == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{colour}">{t}</rect>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="white" stroke="{colour}" stroke-width="1.5">{t}</circle>'


def svg_chart(a: Analysis) -> str:
    """The inline SVG (empty when nothing was compared)."""
    pts = points(a)
    if not pts:
        return ""
    logs = [v for p in pts for v in (_log(p.propagated), _log(p.isolated), _log(p.atol)) if v is not None]
    lo, hi = (math.floor(min(logs)) - 1, math.ceil(max(logs)) + 1) if logs else (-8, 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top_y = TOP - 10  # inf/NaN markers

    def x_of(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / len(pts))

    def y_of(v: float | None) -> float:
        if v is None:
            return TOP + plot_h  # zero or negative excess: the axis floor
        if not math.isfinite(v):
            return top_y
        lv = math.log10(v) if v > 0 else lo
        return TOP + plot_h * (1 - (lv - lo) / (hi - lo))

    def val(v: float | None) -> float | None:
        return None if v is None or (math.isfinite(v) and v <= 0) else v

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
           'aria-label="excess over the relative tolerance along depth" font-family="sans-serif" font-size="11">',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="white" stroke="#888"/>']
    band = [f"{x_of(i) - plot_w / len(pts) / 2:.1f},{y_of(p.atol):.1f} {x_of(i) + plot_w / len(pts) / 2:.1f},"
            f"{y_of(p.atol):.1f}" for i, p in enumerate(pts)]
    out.append(f'<polygon points="{LEFT},{TOP + plot_h} {" ".join(band)} {LEFT + plot_w},{TOP + plot_h}" '
               f'fill="{BAND}" stroke="none"><title>atol band: a point inside it passes</title></polygon>')
    for k in range(lo, hi + 1):
        y = TOP + plot_h * (1 - (k - lo) / (hi - lo))
        out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#888"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">1e{k}</text>')
    for series, colour, dash in ((lambda p: p.isolated, ISO, ' stroke-dasharray="4 3"'),
                                 (lambda p: p.propagated, PROP, "")):
        line = " ".join(f"{x_of(i):.1f},{y_of(val(series(p))):.1f}" for i, p in enumerate(pts)
                        if series(p) is not None)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
    first = a.first_divergence
    for i, p in enumerate(pts):
        name = html.escape(printable(p.name), quote=True)
        if p.isolated is not None:
            out.append(_marker("square", x_of(i), y_of(val(p.isolated)), f"{name}: isolated excess "
                                                                         f"{p.isolated:.3g}", ISO))
        if p.propagated is not None:
            shape = MARKERS.get(p.status, "circle")
            out.append(_marker(shape, x_of(i), y_of(val(p.propagated)),
                               f"{name}: {p.status}, propagated excess {p.propagated:.3g}, atol {p.atol:.1e}", PROP))
        if first is not None and p.index == first.row:
            label = html.escape(printable(f"{first.old_layer or first.new_layer}"
                                          + (f" ({first.cause})" if first.cause else "")), quote=True)
            anchor = "end" if x_of(i) > W / 2 else "start"
            out.append(f'<line x1="{x_of(i):.1f}" y1="{TOP}" x2="{x_of(i):.1f}" y2="{TOP + plot_h}" stroke="{MARK}" '
                       f'stroke-dasharray="2 2"/><text x="{x_of(i) + (-4 if anchor == "end" else 4):.1f}" '
                       f'y="{TOP + 12}" text-anchor="{anchor}" fill="{MARK}">first divergence: {label}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{H - 22}" text-anchor="middle">layer, in OLD\'s execution '
               f'order (1..{len(pts)})</text>')
    out.append(f'<text transform="translate(14 {TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">'
               'excess over rtol·|old| (log)</text>')
    legend = [("circle", PROP, "agrees"), ("triangle", PROP, "inherited"), ("cross", PROP, "diverges / mismatch"),
              ("square", ISO, "isolated (dashed)")]
    x = LEFT
    for shape, colour, words in legend:
        out.append(_marker(shape, x + 5, H - 8, words, colour) + f'<text x="{x + 13}" y="{H - 4}">{words}</text>')
        x += 150
    out.append(f'<rect x="{x}" y="{H - 13}" width="10" height="10" fill="{BAND}"/><text x="{x + 14}" '
               f'y="{H - 4}">atol band</text>')
    out.append("</svg>")
    return "\n".join(out)
