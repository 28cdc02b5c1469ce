"""`errors.printable` is the one rule that makes names from files safe to show (terminal, reports, the TUI): every
control, invisible-format, line/paragraph-separator and lone-surrogate character becomes a visible escape, nothing
else changes. The TUI's render helpers apply it to every name (the CLI and reports: tests/hostile/test_hostile.py).
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import replace

from kstep.errors import printable
from kstep.tui import render
from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, pilot_test, settle

ESCAPED = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format (bidi, zero-width, BOM, tags), surrogates, separators
NAME = "conv\u202e1\u2066\u200b\ufeff\x00\udcff"
SHOWN = "conv\\u202e1\\u2066\\u200b\\ufeff\\x00\\udcff"


def test_every_invisible_or_unencodable_character_is_escaped_and_nothing_else():
    chars = [chr(c) for c in range(sys.maxunicode + 1)]
    hidden = [ch for ch in chars if unicodedata.category(ch) in ESCAPED]
    for ch in hidden:
        out = printable(ch)
        assert out.startswith("\\") and out.isascii() and len(out) in (4, 6, 10), (hex(ord(ch)), out)
    # letters, marks, symbols, spaces, private use: unchanged (unassigned code points left out: the rule holds the
    # format characters of Unicode 15, newer than some Pythons' tables)
    shown = "".join(ch for ch in chars if unicodedata.category(ch) not in ESCAPED + ("Cn",))
    assert printable(shown) == shown


def test_escape_forms():
    assert printable("a\x1b\x00\x9f") == "a\\x1b\\x00\\x9f"
    assert printable("\u202e\u2069\u200f\ufeff\u2028") == "\\u202e\\u2069\\u200f\\ufeff\\u2028"
    assert printable("\udcff\ud800") == "\\udcff\\ud800"
    assert printable("tag\U000e0041") == "tag\\U000e0041"
    assert printable("dense_1 conv/kernel:0 é 卷积 → 🙂") == "dense_1 conv/kernel:0 é 卷积 → 🙂"
    printable(NAME).encode("utf-8")  # strict: no surrogate left


def _named(analysis):
    """The sample with the first divergence (row 1, conv1) renamed NAME on both sides, its weights too."""
    rows = list(analysis.rows)
    row = rows[1]
    rows[1] = replace(row, old=replace(row.old, key=NAME, name=NAME), new=replace(row.new, key=NAME, name=NAME),
                      weights=[replace(w, name_old=NAME + "_W", name_new=NAME + "/kernel:0") for w in row.weights])
    fd = replace(analysis.first_divergence, old_layer=NAME, new_layer=NAME)
    return replace(analysis, rows=rows, first_divergence=fd)


def test_render_escapes_names():
    analysis = _named(sample.sample())
    row = analysis.rows[1]
    for text in (render.layer_text(row).plain, render.row_label(row), render.side_name(row.old),
                 render.verdict(analysis).plain, render.plain(NAME).plain, render.safe(NAME)):
        assert SHOWN in text and text.encode("utf-8"), text


@pilot_test
async def test_app_shows_escaped_names():
    """The whole screen (table, verdict, detail pane with its weights tab) rendered with such a name."""
    app = build(_named(sample.sample()))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        screens = [app.export_screenshot()]
        await pilot.press("tab", "tab")
        await pilot.pause()
        screens.append(app.export_screenshot())
    for svg in screens:
        assert "u202e" in svg and not any(ch in svg for ch in NAME[4:] if not ch.isalnum()), svg[:200]
