"""Provides `svg_heatmaps`: the first divergent layer's maps (kstep.analysis.Heatmaps: OLD, NEW and |Δ| of its worst
channel on one sample) as one inline SVG for the HTML report, each map a PNG data URI written here with zlib (an
indexed-colour PNG, one palette entry per level: no new dependency, no script, works offline and printed).

No numerics beyond painting: each cell's value is placed on its map's scale (OLD and NEW share lo..hi, |Δ| has
0..delta_max) and coloured; a colour bar with the scale's min and max numbers stands under each map. Non-finite
cells (NaN, inf) are painted in NONFINITE, a colour neither palette uses, and the legend says so.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from typing import Sequence

from kstep.analysis import Heatmaps
from kstep.errors import printable

VALUES = ((0x44, 0x01, 0x54), (0x3b, 0x52, 0x8b), (0x21, 0x91, 0x8c), (0x5e, 0xc9, 0x62), (0xfd, 0xe7, 0x25))
"""OLD and NEW: a viridis-like ramp (dark violet = the scale's min, yellow = its max), anchors evenly spaced."""
DELTA = ((0xff, 0xff, 0xe5), (0xfe, 0xc4, 0x4f), (0xec, 0x70, 0x14), (0x99, 0x34, 0x04), (0x40, 0x10, 0x02))
"""|Δ|: pale yellow (0) to dark brown (the largest |Δ|)."""
NONFINITE = (0xff, 0x00, 0xff)
LEVELS = 255  # palette entries 0..254 are the ramp, 255 is NONFINITE
BOX = 168  # a map's longer side on the page, in CSS pixels
ROW_HEIGHT = 24  # a one-row map's height on the page


def ramp(anchors: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """LEVELS colours interpolated linearly between evenly spaced anchors."""
    out = []
    for i in range(LEVELS):
        t = i / (LEVELS - 1) * (len(anchors) - 1)
        k = min(int(t), len(anchors) - 2)
        (r0, g0, b0), (r1, g1, b1), f = anchors[k], anchors[k + 1], t - k
        out.append((round(r0 + (r1 - r0) * f), round(g0 + (g1 - g0) * f), round(b0 + (b1 - b0) * f)))
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(cells: Sequence[Sequence[float]], lo: float, hi: float, anchors: Sequence[tuple[int, int, int]]) -> bytes:
    """An 8-bit indexed PNG, one pixel per cell: the value's level on lo..hi (a flat scale: the middle level)."""
    palette = ramp(anchors) + [NONFINITE]
    height, width = len(cells), len(cells[0])
    raw = bytearray()
    for row in cells:
        raw.append(0)  # filter: none
        for v in row:
            if not math.isfinite(v):
                raw.append(LEVELS)
            elif hi > lo:
                raw.append(min(LEVELS - 1, max(0, round((v - lo) / (hi - lo) * (LEVELS - 1)))))
            else:
                raw.append(LEVELS // 2)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b""))


def _num(x: float) -> str:
    return f"{x:.3g}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def _panel(x: float, title: str, cells, lo: float, hi: float, anchors, gid: str) -> list[str]:
    """One map at x: its title, the PNG scaled to the box (cells stay square, drawn pixelated), the colour bar."""
    h, w = len(cells), len(cells[0])
    dw = BOX * w / max(h, w)
    dh = ROW_HEIGHT if h == 1 else BOX * h / max(h, w)
    uri = "data:image/png;base64," + base64.b64encode(png(cells, lo, hi, anchors)).decode("ascii")
    stops = "".join(f'<stop offset="{i / (len(anchors) - 1):.2f}" stop-color="{_hex(c)}"/>'
                    for i, c in enumerate(anchors))
    bar_y = 24 + dh + 8
    return [f'<text x="{x:.0f}" y="16" font-weight="bold">{title}</text>',
            f'<image x="{x:.0f}" y="24" width="{dw:.1f}" height="{dh:.1f}" preserveAspectRatio="none" '
            f'image-rendering="optimizeSpeed" style="image-rendering:pixelated" href="{uri}"><title>{title}: '
            f'{h} x {w} cells</title></image>',
            f'<rect x="{x:.0f}" y="24" width="{dw:.1f}" height="{dh:.1f}" fill="none" stroke="#888"/>',
            f'<linearGradient id="{gid}">{stops}</linearGradient>',
            f'<rect x="{x:.0f}" y="{bar_y:.1f}" width="{BOX}" height="10" fill="url(#{gid})" stroke="#888"/>',
            f'<text x="{x:.0f}" y="{bar_y + 24:.1f}">{_num(lo)}</text>',
            f'<text x="{x + BOX:.0f}" y="{bar_y + 24:.1f}" text-anchor="end">{_num(hi)}</text>']


def where(m: Heatmaps) -> str:
    """Which slice the maps show, in words: the layer, sample, channel (and fixed axes), the size and downsampling."""
    name = html.escape(printable(m.layer), quote=True)
    parts = [f"{name}, sample {m.sample}"]
    parts.append("all units (a vector: no channel)" if m.channel is None else f"channel {m.channel} (the largest "
                 "max |Δ|)")
    if m.fixed:
        parts.append("at spatial index " + ", ".join(str(i) for i in m.fixed) + " of the leading axes")
    size = f"{m.shape[0]} x {m.shape[1]}"
    if m.step != (1, 1):
        size += (f", downsampled by {m.step[0]} x {m.step[1]} blocks to {len(m.old)} x {len(m.old[0])} "
                 "(OLD/NEW: block mean, |Δ|: block max)")
    return "; ".join(parts) + f"; {size}"


def svg_heatmaps(m: Heatmaps | None) -> str:
    """The three maps side by side with their colour bars (empty when there are none)."""
    if m is None or not m.old or not m.old[0]:
        return ""
    h, w = len(m.old), len(m.old[0])
    dh = ROW_HEIGHT if h == 1 else BOX * h / max(h, w)
    height = 24 + dh + 8 + 10 + 30
    gap = BOX + 32
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * gap:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {3 * gap:.0f} {height:.0f}" role="img" aria-label="heatmaps of OLD, NEW and |Δ|" '
           'font-family="sans-serif" font-size="11">']
    out += _panel(0, "OLD", m.old, m.lo, m.hi, VALUES, "kstep-hm-old")
    out += _panel(gap, "NEW", m.new, m.lo, m.hi, VALUES, "kstep-hm-new")
    out += _panel(2 * gap, "|Δ|", m.delta, 0.0, m.delta_max, DELTA, "kstep-hm-delta")
    out.append("</svg>")
    return "\n".join(out)
