"""The committed scripts that make the README's pictures and the benchmarks still import against today's kstep
(they are run by hand, so a renamed function would otherwise go unnoticed)."""

import importlib.util

import pytest

from tests.conftest import ROOT

SCRIPTS = ["docs/make_screenshot.py", "benchmarks/first_paint.py"]


@pytest.mark.parametrize("path", SCRIPTS)
def test_script_imports(path):
    spec = importlib.util.spec_from_file_location("script_under_test", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs the imports; each script's work is under `if __name__ == "__main__"`
    assert callable(module.main)
