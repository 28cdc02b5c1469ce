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



@pytest.fixture
def session(tmp_path):
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
    subprocess.run(["tmux", "-S", socket, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c",
                    str(tmp_path), cmd], check=True, env=env)
    yield lambda *a: _tmux("-S", socket, *a), name, exit_file, tmp_path
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


def test_demo_in_tmux(session, capsys):
    """The demo's first divergence (conv1, theano_kernel_flip) is shown and selected; export; quit cleanly."""
    tmux, name, exit_file, cwd = session
    deadline = time.monotonic() + 30
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", name)
        if "FIRST DIVERGENCE" in screen:
            break
        time.sleep(0.2)
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
