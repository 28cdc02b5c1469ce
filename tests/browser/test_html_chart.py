"""The HTML report's chart in a real browser: headless Chromium renders the demo pair's report to a PNG (made here,
never committed) and the chart must be drawn: the propagated series' stroke colour present at the first
divergence's marker line; under it the first divergence's heatmaps are painted. Skipped when Chromium is absent,
unless KSTEP_REQUIRE_CHROMIUM=1 (.ci/run sets it once it has installed Debian's `chromium`)."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from kstep.cli import main
from kstep.report.heatmap import BOX, DELTA, VALUES, ramp
from kstep.report.profile import MARK, PROP
from tests.browser.png import read_png
from tests.conftest import ROOT

DEMO = ROOT / "demo_models"


def _browser() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        if os.environ.get("KSTEP_REQUIRE_CHROMIUM") == "1":
            pytest.fail("KSTEP_REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def _near(image: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    return (np.abs(image[..., :3].astype(int) - _rgb(colour)).sum(axis=-1) < tol)


def test_chart_is_drawn_in_chromium(tmp_path, capsys):
    browser = _browser()
    html = tmp_path / "report.html"
    code = main(["report", str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new",
                 str(DEMO / "ref_new.npy"), "-o", str(html)])
    assert code == 1
    png = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,1000", f"--screenshot={png}", html.as_uri()],
                   capture_output=True, timeout=120, check=False)
    image = read_png(png.read_bytes())
    assert image.std() > 10  # not blank
    mark = _near(image, MARK)
    columns = np.flatnonzero(mark.sum(axis=0) >= 20)  # the dashed vertical line at the first divergence
    assert columns.size, "the first divergence's marker line is not drawn"
    x = int(np.median(columns))
    stroke = _near(image, PROP)[:, max(0, x - 8):x + 9]
    assert stroke.sum() >= 10, "the propagated series is not drawn at the first divergence"


def _near_ramp(image: np.ndarray, anchors, tol: int = 12) -> np.ndarray:
    """Pixels within `tol` (sum over R, G, B) of a colour of the ramp `anchors` spans."""
    colours = np.array(ramp(anchors), int)
    rgb = image[..., :3].astype(int)
    near = np.zeros(rgb.shape[:2], bool)
    for c in colours[::2]:  # every other level: neighbouring levels differ by a few units
        near |= np.abs(rgb - c).sum(axis=-1) < tol
    return near


def test_heatmaps_are_drawn_in_chromium(tmp_path):
    """Under the chart, the first divergence's OLD and NEW maps (two squares of the value ramp's colours) and its
    |Δ| map (one square of the |Δ| ramp's) are painted: the PNG data URIs render, not blank, not broken images."""
    browser = _browser()
    html = tmp_path / "report.html"
    assert main(["report", str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new",
                 str(DEMO / "ref_new.npy"), "-o", str(html)]) == 1
    png = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,1300", f"--screenshot={png}", html.as_uri()],
                   capture_output=True, timeout=120, check=False)
    image = read_png(png.read_bytes())
    chart_bottom = int(np.flatnonzero(_near(image, MARK).sum(axis=1) > 0).max())  # the marker line's lowest pixel
    size = BOX * 0.9  # the demo's conv1 maps are 16 x 16 cells, drawn BOX pixels square
    for anchors, maps in ((VALUES, 2), (DELTA, 1)):
        found = _near_ramp(image, anchors)
        found[:chart_bottom] = False
        columns = np.flatnonzero(found.sum(axis=0) >= size)  # a map's columns (a colour bar is 10 pixels high)
        rows = np.flatnonzero(found.sum(axis=1) >= size * maps)
        assert columns.size >= size * maps, f"{maps} map(s) of {anchors[0]} not drawn below the chart"
        assert rows.size >= size and rows.min() > chart_bottom
        box = found[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
        assert box.mean() > 0.5, "the maps' area is mostly blank"
