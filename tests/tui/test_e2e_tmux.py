"""End to end in a real terminal: `kstep demo_models/old.h5 demo_models/new.h5 demo_models/ref.npy` in tmux at
80x24; the first divergent layer is on screen and selected, `e` exports, `q` quits with exit 0, and the exported
report is byte-identical to `kstep report` with the same options."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

DEMO = ROOT / "demo_models"
ARGS = [str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new", str(DEMO / "ref_new.npy")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout



def _start(tmp_path, no_color: bool = False):
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is required for the end-to-end test")
        pytest.skip("tmux is not installed")
    name = f"kstep-e2e-{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")
    exit_file = tmp_path / "exit"
    cmd = " ".join([sys.executable, "-m", "kstep", *ARGS]) + f"; echo $? > {exit_file}; sleep 60"
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    subprocess.run(["tmux", "-S", socket, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c",
                    str(tmp_path), cmd], check=True, env=env)
    return lambda *a: _tmux("-S", socket, *a), name, exit_file, tmp_path


@pytest.fixture
def session(tmp_path):
    yield _start(tmp_path)
    subprocess.run(["tmux", "-S", str(tmp_path / "tmux.sock"), "kill-server"], capture_output=True)


@pytest.fixture
def no_color_session(tmp_path):
    yield _start(tmp_path, no_color=True)
    subprocess.run(["tmux", "-S", str(tmp_path / "tmux.sock"), "kill-server"], capture_output=True)


def _wait_for(tmux, name: str, text: str, timeout: float = 30) -> str:
    """The pane's text once it shows `text` (or at the timeout)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", name)
        if text in screen:
            break
        time.sleep(0.2)
    return screen


def test_demo_in_tmux(session, capsys):
    """The demo's first divergence (conv1, theano_kernel_flip) is shown and selected; export; quit cleanly."""
    tmux, name, exit_file, cwd = session
    screen = _wait_for(tmux, name, "FIRST DIVERGENCE")
    assert "FIRST DIVERGENCE conv1" in screen and "theano_kernel_flip" in screen, screen
    selected = [line for line in screen.splitlines() if line.lstrip().startswith("▶")]
    assert selected and "conv1" in selected[0], screen
    time.sleep(2)  # the demo's few remaining rows finish, so the export is the complete report
    tmux("send-keys", "-t", name, "e")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "export" not in tmux("capture-pane", "-p", "-t", name):
        time.sleep(0.2)
    tmux("send-keys", "-t", name, "Enter")
    report = cwd / "kstep-report.md"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not report.exists():
        time.sleep(0.2)
    assert report.exists(), tmux("capture-pane", "-p", "-t", name)
    tmux("send-keys", "-t", name, "q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not exit_file.exists():
        time.sleep(0.2)
    assert exit_file.read_text().strip() == "0"
    from kstep.cli import main

    headless = cwd / "headless.md"
    assert main(["report", *ARGS, "-o", str(headless)]) == 1
    assert report.read_bytes() == headless.read_bytes()


GREYS = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}  # the 256-colour palette's greys


def _chromatic(sgr: str) -> list[str]:
    """The colours in one SGR parameter list that are not greys (256-colour index or 24-bit)."""
    params, out, i = [p for p in sgr.split(";") if p], [], 0
    while i < len(params):
        p = params[i]
        if p in ("38", "48") and i + 2 < len(params) and params[i + 1] == "5":
            if int(params[i + 2]) not in GREYS:
                out.append(sgr)
            i += 3
        elif p in ("38", "48") and i + 4 < len(params) and params[i + 1] == "2":
            r, g, b = (int(x) for x in params[i + 2:i + 5])
            if max(r, g, b) - min(r, g, b) > 16:
                out.append(sgr)
            i += 5
        else:
            if p.isdigit() and (30 <= int(p) <= 37 or 40 <= int(p) <= 47 or 90 <= int(p) <= 97
                                or 100 <= int(p) <= 107) and int(p) % 10 not in (0, 7):
                out.append(sgr)  # a basic colour other than black or white
            i += 1
    return out


def test_no_color_and_ctrl_c_in_tmux(no_color_session):
    """NO_COLOR=1 through the real command: the first divergence is on screen with no colour in any escape sequence
    (no colour at all: glyphs, bold and reverse video); ctrl+c then exits 130 and leaves the alternate screen."""
    import re

    tmux, name, exit_file, _ = no_color_session
    screen = _wait_for(tmux, name, "FIRST DIVERGENCE")
    assert "FIRST DIVERGENCE conv1" in screen and "✗" in screen, screen
    escaped = tmux("capture-pane", "-e", "-p", "-t", name)
    sgr = re.findall(r"\x1b\[([0-9;]*)m", escaped)
    assert sgr, "no styling captured at all"
    assert [c for s in sgr for c in _chromatic(s)] == []
    # no colour at all, not even greys: only the terminal's defaults, bold and reverse video
    assert not [s for s in sgr if re.search(r"(^|;)(38|48);", s)], sorted(set(sgr))
    assert any("7" in s.split(";") for s in sgr)  # the selected row in reverse video
    tmux("send-keys", "-t", name, "e")  # the export dialog: the chosen format is told apart without colour
    _wait_for(tmux, name, "format", timeout=10)
    assert "\x1b[1;4m md " in tmux("capture-pane", "-e", "-p", "-t", name)
    tmux("send-keys", "-t", name, "Escape")
    tmux("send-keys", "-t", name, "C-c")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not exit_file.exists():
        time.sleep(0.2)
    assert exit_file.read_text().strip() == "130"
    assert tmux("display-message", "-p", "-t", name, "#{alternate_on}").strip() == "0"
