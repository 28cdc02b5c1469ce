"""The core (io, engine, compare, report, cli) never imports Textual: the headless path stays light and testable."""

import subprocess
import sys

import pytest

HEADLESS = ["kstep", "kstep.cli", "kstep.io.load", "kstep.engine.executor", "kstep.engine.registry",
            "kstep.describe", "kstep.io.inputs"]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module):
    """Importing a headless module in a fresh interpreter leaves textual out of sys.modules."""
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
