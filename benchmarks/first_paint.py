#!/usr/bin/env python3
"""Time-to-first-paint of the debugger in a real terminal: `kstep OLD NEW REF` in a detached 80x24 tmux session.

Usage:
    python benchmarks/first_paint.py                                   # the demo pair, 5 runs
    python benchmarks/first_paint.py --runs 5 --big OLD.h5 NEW.h5 REF.npy [--big-args "--ref-new X.npy"]
    python benchmarks/first_paint.py --kstep "/tmp/kvenv/bin/python -m kstep" --size 120x40

For each run it starts a private tmux server (its own socket) whose session waits on `tmux wait-for`, then
releases it and runs the kstep command (so tmux's own start-up is not counted), and polls `capture-pane -p` every
--poll seconds (default 0.02) through one tmux control-mode client (`tmux -C`, pane output notifications off), so
that polling does not spawn a process each time and takes next to no CPU from kstep on a small machine. It
reports, per pair, the median (and each run) of:

- first paint: the layer table is on screen (its column header, `layer (old→new)` below 110 columns, `old layer`
  from 110), i.e. the app has drawn its main screen with the aligned layers;
- first divergence: the verdict line shows `FIRST DIVERGENCE` (or `models agree` / `agree up to` / `STOPPED AT` when there
  is none, once the analysis is complete), i.e. the background analysis has reached the first divergent layer.

Then it sends `q` and checks that kstep exits 0 (the exit code is printed next to each run). Nothing is written
outside a temporary directory. The times include Python's start-up and imports; polling adds up to --poll s.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo_models"
DEMO_ARGS = [str(DEMO / "old.h5"), str(DEMO / "new.h5"), str(DEMO / "ref.npy"), "--ref-new", str(DEMO / "ref_new.npy")]
TABLE_MARKS = ("layer (old→new)", "old layer")
VERDICT_MARKS = ("FIRST DIVERGENCE", "models agree within tolerance", "agree up to ", "STOPPED AT ")


def default_kstep() -> str:
    script = Path(sys.executable).with_name("kstep")
    return shlex.quote(str(script)) if script.exists() else f"{shlex.quote(sys.executable)} -m kstep"


class Control:
    """One tmux control-mode client (`tmux -C`): commands without a process per poll, so the poller takes almost no
    CPU from the kstep being timed. Pane output notifications are switched off (`-f no-output`)."""

    def __init__(self, tmux: list[str], name: str):
        self.proc = subprocess.Popen([*tmux, "-C", "attach-session", "-f", "no-output", "-t", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        out, inside = [], False
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if not inside:
                inside = line.startswith("%begin")
                continue
            if line.startswith(("%end", "%error")):
                return "\n".join(out)
            out.append(line)
        return "\n".join(out)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.kill()
        self.proc.wait()


def one_run(kstep: str, args: list[str], size: tuple[int, int], poll: float, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="kstep-fp-") as tmp:
        sock, name = os.path.join(tmp, "tmux.sock"), "fp"
        exit_file = os.path.join(tmp, "exit")
        tmux = ["tmux", "-S", sock]
        cmd = (f"{shlex.join(tmux)} wait-for go; {kstep} {shlex.join(args)}; echo $? > {shlex.quote(exit_file)}; "
               "sleep 30")
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        subprocess.run([*tmux, "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), "-c", tmp,
                        cmd], check=True, env=env)
        control = Control(tmux, name)
        try:
            control.run(f"display-message -p -t {name} ready")  # attached
            time.sleep(0.3)  # let the session's shell reach `wait-for`
            t0 = time.perf_counter()
            subprocess.run([*tmux, "wait-for", "-S", "go"], check=True)
            paint = verdict = None
            screen = ""
            while time.perf_counter() - t0 < timeout:
                screen = control.run(f"capture-pane -p -t {name}")
                now = time.perf_counter() - t0
                if paint is None and any(m in screen for m in TABLE_MARKS):
                    paint = now
                if verdict is None and any(m in screen for m in VERDICT_MARKS):
                    verdict = now
                if paint is not None and verdict is not None:
                    break
                time.sleep(poll)
            control.run(f"send-keys -t {name} q")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not os.path.exists(exit_file):
                time.sleep(0.05)
            code = open(exit_file).read().strip() if os.path.exists(exit_file) else "?"
            return {"paint": paint, "divergence": verdict, "exit": code, "screen": screen}
        finally:
            control.close()
            subprocess.run([*tmux, "kill-server"], capture_output=True)


def fmt(x: float | None) -> str:
    return "  never" if x is None else f"{x:7.3f}"


def bench(label: str, kstep: str, args: list[str], runs: int, size, poll: float, timeout: float,
          show_screen: bool) -> dict:
    results = [one_run(kstep, args, size, poll, timeout) for _ in range(runs)]
    print(f"\n{label}: {kstep} {shlex.join(args)}  ({size[0]}x{size[1]}, {runs} runs)")
    for i, r in enumerate(results):
        print(f"  run {i + 1}: first paint {fmt(r['paint'])} s   first divergence {fmt(r['divergence'])} s   "
              f"exit {r['exit']}")
    out = {}
    for key, what in (("paint", "first paint"), ("divergence", "first divergence")):
        values = [r[key] for r in results if r[key] is not None]
        out[key] = statistics.median(values) if len(values) == len(results) else None
        print(f"  median {what}: {fmt(out[key])} s" + ("" if values else "") +
              (f"  (min {min(values):.3f}, max {max(values):.3f})" if values else ""))
    if show_screen:
        print("  last screen:\n" + "\n".join("    " + line for line in results[-1]["screen"].splitlines()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kstep", default=default_kstep(), help="the kstep command (shell words); default: the "
                                                                "`kstep` next to this Python, else `python -m kstep`")
    parser.add_argument("--size", default="80x24", help="terminal COLSxROWS (default 80x24)")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between captures (default 0.02)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--big", nargs=3, metavar=("OLD", "NEW", "REF"), help="a second (big) pair to time")
    parser.add_argument("--big-args", default="", help="extra options for the big pair, one shell string")
    parser.add_argument("--no-demo", action="store_true", help="time only the --big pair")
    parser.add_argument("--show-screen", action="store_true", help="print the last run's final screen")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is required", file=sys.stderr)
        return 2
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} nproc {os.cpu_count()}, load "
          f"{' '.join(open('/proc/loadavg').read().split()[:3]) if os.path.exists('/proc/loadavg') else '?'}")
    if not args.no_demo:
        bench("demo pair", args.kstep, DEMO_ARGS, args.runs, (cols, rows), args.poll, args.timeout, args.show_screen)
    if args.big:
        bench("big pair", args.kstep, [*args.big, *shlex.split(args.big_args)], args.runs, (cols, rows), args.poll,
              args.timeout, args.show_screen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
