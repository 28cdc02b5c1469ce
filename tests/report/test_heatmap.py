"""The HTML report's heatmaps (kstep/report/heatmap.py): the PNG written with zlib decodes to the levels of the
cells, the SVG is well-formed with three maps and their scales, hostile names are escaped, and the JSON report says
where the maps were taken."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import replace

from kstep.analysis import Heatmaps
from kstep.report import FORMATS
from kstep.report.heatmap import DELTA, LEVELS, NONFINITE, VALUES, png, svg_heatmaps, where
from tests.report.sample import HOSTILE, sample_analysis

SVG = "{http://www.w3.org/2000/svg}"


def _maps(layer: str = "conv1", rows: int = 3, cols: int = 4) -> Heatmaps:
    old = tuple(tuple(float(r * cols + c) for c in range(cols)) for r in range(rows))
    new = tuple(tuple(v + (0.5 if (r, c) == (1, 2) else 0.0) for c, v in enumerate(row)) for r, row in enumerate(old))
    delta = tuple(tuple(abs(a - b) for a, b in zip(x, y)) for x, y in zip(old, new))
    if rows == 3:
        new = (new[0], (new[1][0], math.nan) + new[1][2:], new[2])
    return Heatmaps(row=0, layer=layer, sample=1, channel=3, fixed=(), shape=(rows, cols), step=(1, 1), old=old,
                    new=new, delta=delta, lo=0.0, hi=float(rows * cols - 1) + 0.5, delta_max=0.5)


def decode(data: bytes) -> tuple[list[list[int]], list[tuple[int, ...]]]:
    """An 8-bit indexed PNG (filter 0) -> (palette indices per row, palette)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, palette, header = 8, b"", [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (8, 3)
    raw = zlib.decompress(idat)
    rows = [list(raw[y * (width + 1) + 1:(y + 1) * (width + 1)]) for y in range(height)]
    assert all(raw[y * (width + 1)] == 0 for y in range(height))
    return rows, palette


def test_png_levels_follow_the_scale():
    """Each cell's palette index is its place on lo..hi; NaN and inf take the non-finite colour."""
    m = _maps()
    rows, palette = decode(png(m.new, m.lo, m.hi, VALUES))
    assert len(rows) == 3 and len(rows[0]) == 4
    assert rows[0][0] == 0 and rows[2][3] == round(11 / 11.5 * (LEVELS - 1))
    assert rows[1][1] == LEVELS and palette[LEVELS] == NONFINITE
    assert palette[0] == VALUES[0] and palette[LEVELS - 1] == VALUES[-1]
    flat, _ = decode(png(((2.0, 2.0),), 2.0, 2.0, DELTA))  # a flat scale: the middle level, not a division by 0
    assert flat == [[LEVELS // 2] * 2]
    inf, _ = decode(png(((math.inf, 1.0),), 0.0, 1.0, DELTA))
    assert inf == [[LEVELS, LEVELS - 1]]


def test_svg_has_three_maps_with_their_scales():
    svg = svg_heatmaps(_maps())
    root = ET.fromstring(svg)
    images = list(root.iter(SVG + "image"))
    assert len(images) == 3
    for image in images:
        uri = image.get("href") or ""
        assert uri.startswith("data:image/png;base64,")
        decode(base64.b64decode(uri.split(",", 1)[1]))
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts[:1] == ["OLD"] and "NEW" in texts and "|Δ|" in texts
    assert texts.count("0") >= 2 and texts.count("11.5") == 2 and "0.5" in texts  # min/max under each map
    assert len(list(root.iter(SVG + "linearGradient"))) == 3
    assert "<script" not in svg


def test_one_row_map_keeps_a_readable_height():
    svg = svg_heatmaps(_maps(rows=1, cols=40))
    image = next(ET.fromstring(svg).iter(SVG + "image"))
    assert float(image.get("height") or 0) >= 20


def test_where_says_channel_sample_and_downsampling_and_escapes():
    m = replace(_maps(HOSTILE), step=(2, 3), shape=(6, 12))
    text = where(m)
    assert "sample 1" in text and "channel 3" in text and "downsampled by 2 x 3 blocks to 3 x 4" in text
    assert "<script>" not in text and "\x1b" not in text
    assert "no channel" in where(replace(m, channel=None))


def test_html_and_json_reports_carry_the_maps():
    a = replace(sample_analysis(), heatmaps=_maps(HOSTILE))
    page = FORMATS["html"].render(a)
    assert page.count("data:image/png;base64,") == 3 and "<script>" not in page
    assert page.index("Error along depth") < page.index("data:image/png") < page.index("First divergence:")
    assert "data:image/png" not in FORMATS["html"].render(sample_analysis())
    doc = json.loads(FORMATS["json"].render(a))
    maps = doc["first_divergence"]["heatmaps"]
    assert maps == {"row": 0, "layer": HOSTILE, "sample": 1, "channel": 3, "fixed": [], "shape": [3, 4],
                    "step": [1, 1], "cells": [3, 4], "lo": 0.0, "hi": 11.5, "delta_max": 0.5}
    assert json.loads(FORMATS["json"].render(sample_analysis()))["first_divergence"]["heatmaps"] is None
    assert not re.search(r"[^\x00-\x7f]", FORMATS["json"].render(a))  # ensure_ascii still holds
