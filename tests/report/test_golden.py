"""Golden files per report format: the rendering of a fixed, hand-built analysis (not the analysis itself).

Regenerate after an intended change with KSTEP_UPDATE_GOLDEN=1 and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from kstep.report import FORMATS
from tests.report.sample import sample_analysis

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden(fmt):
    """Each writer renders the sample exactly as its golden file."""
    text = FORMATS[fmt].render(sample_analysis())
    path = GOLDEN / f"sample{FORMATS[fmt].suffix}"
    if os.environ.get("KSTEP_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_raw_control_characters_or_markup(fmt):
    """A hostile layer name never reaches the output as an escape sequence; HTML escapes it."""
    text = FORMATS[fmt].render(sample_analysis())
    assert "\x1b" not in text and "\x07" not in text
    if fmt == "html":
        assert "<script>" not in text and "&lt;script&gt;" in text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["schema"] == "kstep.report/2"
        assert list(doc) == ["schema", "kstep_version", "command", "old", "new", "tolerance", "input_notes", "complete",
                             "agree", "samples", "summary", "first_divergence", "verdicts", "layers"]
