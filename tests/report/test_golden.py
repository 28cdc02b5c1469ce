"""Golden files per report format: the rendering of a fixed, hand-built analysis (not the analysis itself).

Regenerate after an intended change with KSTEP_UPDATE_GOLDEN=1 and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from kstep.report import FORMATS
from tests.report.sample import fixed_analysis, sample_analysis

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["sample", "fixed"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden(fmt, name):
    """Each writer renders the sample (and `kstep fix`'s variant of it) exactly as its golden file."""
    text = FORMATS[fmt].render(sample_analysis() if name == "sample" else fixed_analysis())
    path = GOLDEN / f"{name}{FORMATS[fmt].suffix}"
    if os.environ.get("KSTEP_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("build", [sample_analysis, fixed_analysis])
def test_no_raw_control_characters_or_markup(fmt, build):
    """A hostile layer name never reaches the output as an escape sequence; HTML escapes it."""
    text = FORMATS[fmt].render(build())
    assert "\x1b" not in text and "\x07" not in text
    if fmt == "html":
        assert "<script>" not in text and "&lt;script&gt;" in text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["schema"] == "kstep.report/2"
        assert list(doc) == ["schema", "kstep_version", "command", "old", "new", "tolerance", "input_notes", "complete",
                             "agree", "samples", "summary", "first_divergence", "fixes", "verdicts", "layers"]
