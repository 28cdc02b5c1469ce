"""The committed scripts that make the README's pictures and the benchmarks still import against today's kstep
(they are run by hand, so a renamed function would otherwise go unnoticed)."""

import importlib.util

import pytest

from tests.conftest import ROOT

SCRIPTS = ["docs/make_screenshot.py", "docs/make_report_screenshot.py", "benchmarks/first_paint.py"]


@pytest.mark.parametrize("path", SCRIPTS)
def test_script_imports(path):
    spec = importlib.util.spec_from_file_location("script_under_test", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs the imports; each script's work is under `if __name__ == "__main__"`
    assert callable(module.main)


def test_report_screenshot_cuts_the_chart_and_heatmaps(tmp_path):
    """docs/make_report_screenshot.py's page is today's report's chart and heatmaps, nothing after them."""
    from kstep.cli import main

    spec = importlib.util.spec_from_file_location("report_shot", ROOT / "docs/make_report_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "r.html"
    argv = [str(ROOT / a) if a.startswith("demo_models") else a for a in module.ARGV]
    assert main(argv + ["-o", str(out)]) == 1
    page = module.section(out.read_text(encoding="utf-8"))
    assert page.count("<svg") == 2 and page.count("data:image/png;base64,") == 3
    assert "First divergence:" not in page and "<h2>Layers</h2>" not in page
