"""The error-along-depth pictures (kstep/report/profile.py): the Markdown sparkline and the HTML report's SVG."""

import math
import re
import xml.etree.ElementTree as ET

from kstep.analysis import AGREE, DIVERGE
from kstep.report.profile import BLOCKS, points, sparkline, svg_chart
from tests.report.sample import HOSTILE, sample_analysis, stats


def _with_errors(values):
    a = sample_analysis()
    row = a.rows[0]
    a.rows = []
    for i, v in enumerate(values):
        s = stats(v, v < 1e-3)
        s.excess = v
        a.rows.append(type(row)(i, row.old, row.new, AGREE if v < 1e-3 else DIVERGE, s, None))
    a.first_divergence.row = next((i for i, v in enumerate(values) if v >= 1e-3), 0)
    return a


def test_sparkline_levels():
    line = sparkline(_with_errors([1e-7, 1e-7, 0.0, 1e-1, 1.0, math.inf]))
    assert line == BLOCKS[0] * 2 + " " + BLOCKS[6] + BLOCKS[7] + "!"


def test_sparkline_buckets_keep_the_largest():
    line = sparkline(_with_errors([1e-6] * 100 + [1.0] + [1e-6] * 99), width=50)
    assert len(line) == 50 and line.count(BLOCKS[-1]) == 1 and line[25] == BLOCKS[-1]


def test_svg_is_wellformed_and_marks_the_first_divergence():
    a = _with_errors([1e-7, 2e-7, 0.5, 0.4, math.nan])
    svg = svg_chart(a)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert sum(": diverge, propagated" in (t or "") for t in titles) == 3
    assert sum(": agree, propagated" in (t or "") for t in titles) == 2
    assert "first divergence: conv1 (theano_kernel_flip)" in svg
    crosses = re.findall(r'<g stroke="#c0392b"', svg)
    assert len(crosses) == 3 + 1  # diverging rows are crosses (and the legend has one), not only a colour


def test_points_above_the_band_failed():
    """A point's height is its excess; the band's top is its atol: above the band <=> excess > atol."""
    a = _with_errors([1e-7, 0.5])
    for p in points(a):
        assert (p.propagated > p.atol) == (p.status == DIVERGE)


def test_hostile_names_are_escaped_in_titles():
    a = sample_analysis()
    svg = svg_chart(a)
    assert "<script>" not in svg and "\x1b" not in svg
    ET.fromstring(svg)  # still well-formed with the hostile name in a title
    assert HOSTILE.split()[0] in svg or "[bold red]X[/]" in svg


def test_nothing_compared_draws_nothing():
    a = sample_analysis()
    a.rows = []
    assert svg_chart(a) == "" and sparkline(a) == ""
