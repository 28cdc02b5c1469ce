"""The debugger's one-row error-along-depth sparkline (kstep/tui/widgets/depth_sparkline.py): the Markdown report's
series, the selected row's cell between brackets (a shape, readable with NO_COLOR), and a Pilot test that moving
the selection moves the mark."""

from __future__ import annotations

from dataclasses import replace

from kstep.report.profile import sparkline
from kstep.tui.widgets.depth_sparkline import LABEL, DepthSparkline, sparkline_text
from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, main_screen, pilot_test, settle


def mark(text: str) -> int:
    """The position of the marked cell within the sparkline (the characters after the label)."""
    cells = text[len(LABEL):]
    assert cells.count("[") == 1 and cells.count("]") == 1, text
    return cells.index("[")


def test_same_series_as_the_markdown_report_with_the_selected_cell_marked():
    a = sample.sample()
    text = sparkline_text(a, 2, 78).plain
    assert text.startswith(LABEL)
    line = sparkline(a)  # the Markdown report's sparkline: 8 compared rows, one cell each at this width
    assert text[len(LABEL):].replace("[", "").replace("]", "").startswith(line)
    assert mark(text) == 2  # row 2 is the third compared row (rows 0, 1, 2, ... have a propagated statistic)
    assert "[" not in sparkline_text(a, 6, 78).plain  # row 6 (unmatched) is not on the line: no mark
    assert text.rstrip().endswith("6.6e-01 .. 3.2e+00")  # the range it spans


def test_the_mark_is_a_shape_not_only_a_colour():
    """The marked cell is bracketed in the plain text (what NO_COLOR leaves), its glyph unchanged."""
    a = sample.sample()
    text = sparkline_text(a, 1, 78)
    at = len(LABEL) + mark(text.plain)
    assert text.plain[at:at + 3] == "[" + sparkline(a)[1] + "]"
    assert any("bold" in str(span.style) and span.start <= at < span.end for span in text.spans)


def test_many_rows_share_cells_and_the_mark_follows_its_bucket():
    """More compared rows than cells: each cell holds several rows and the mark lands on the selected row's cell."""
    a = sample.sample()
    base = a.rows[2]
    rows = [replace(base, index=i) for i in range(300)]
    big = replace(a, rows=rows)
    text = sparkline_text(big, 299, 60).plain
    assert len(text) <= 60
    cells = len(text) - len(LABEL) - 2 - len(text.split("  ")[-1]) - 2
    assert mark(text) == cells - 1  # the last row is in the last cell
    assert mark(sparkline_text(big, 0, 60).plain) == 0


def test_too_narrow_or_nothing_compared_is_empty():
    assert sparkline_text(sample.sample(), 1, 12).plain == ""
    assert sparkline_text(None, 1, 78).plain == ""
    assert sparkline_text(replace(sample.sample(), rows=[]), None, 78).plain == ""


def shown(pilot) -> str:
    return main_screen(pilot).query_one(DepthSparkline).render().plain


@pilot_test
async def test_moving_the_selection_moves_the_mark():
    """The first divergence (row 1) is selected on load; j moves the mark one cell right, G to the last compared
    row's cell, f back; at 80x24 the row fits under the verdict line."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert mark(shown(pilot)) == 1 and len(shown(pilot)) <= 78
        await pilot.press("j")
        assert mark(shown(pilot)) == 2
        await pilot.press("j", "j", "j", "j", "j", "j")  # row 8: the last one with a statistic (the 8th cell)
        assert mark(shown(pilot)) == 7
        await pilot.press("j")  # row 9: unsupported, not on the line
        assert "[" not in shown(pilot)
        await pilot.press("f")
        assert mark(shown(pilot)) == 1
