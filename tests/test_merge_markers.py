"""No tracked text file keeps a merge's conflict markers (an earlier merge left some in README and a doc)."""

import re
import subprocess

from tests.conftest import ROOT

MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def test_no_conflict_markers():
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", "*.tcss", "*.json", "*.txt", "*.sh"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    bad = [f for f in files if (ROOT / f).is_file() and MARKER.search((ROOT / f).read_text(errors="replace"))]
    assert not bad, f"conflict markers in {bad}"
