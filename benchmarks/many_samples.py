#!/usr/bin/env python3
"""kstep on N reference samples against the user's cheapest alternative, paired in one run (issue 13's targets).

Usage (in the modern oracle venv, which has tf_keras; kstep itself runs in its own venv):
    /tmp/oracle-venvs/modern/bin/python benchmarks/many_samples.py [--workdir /tmp/kstep-many]
        [--sizes 1,32,64,256,1024] [--cnn-samples 10000] [--ceiling 8G] [--kstep "/tmp/kvenv/bin/python -m kstep"]
        [--timeout 1800] [--wait-idle 10] [--json OUT.json]

In WORKDIR (never committed) it writes the ResNet50 pair of make_big_pair.py (2 x 98 MiB), one seeded REF per N
(N x 224 x 224 x 3 float32, 588 KiB a sample; sample i is the same in every file), and a small CNN pair with its
REF of --cnn-samples 32 x 32 x 3 samples (12 KiB a sample). Disk: ~1.1 GB with the defaults (0.79 GB of ResNet REFs,
0.12 GB of CNN REF, 0.2 GB of models); the script says how much it needs before writing and refuses if /tmp lacks it.

For each case, back to back:
  (a) tf: a fresh tf_keras process (this interpreter) that loads both models and predicts their final outputs on the
      same N samples (model.predict, batch 32), then counts the samples whose top-1 differs;
  (b) kstep: `KSTEP report OLD NEW REF --format json -o WORKDIR/report_CASE_N.json` under a memory ceiling
      (`prlimit --as=CEILING`: the address space, so a process that keeps every activation fails instead of
      swapping the machine), run from WORKDIR so that the kstep imported is the one KSTEP names.
Wall time is that of the whole process; peak RSS is the child's own ru_maxrss from os.wait4, taken in a small
helper process (engine_table.run_measured, which also waits up to --wait-idle s for an idle machine and reports
the share of the CPUs other processes used). A kstep run counts when it exits 0 (agree) or 1 (diverge) AND writes
a JSON report; anything else is "failed: exit N" (N < 0: killed by signal -N, e.g. after --timeout).

Prints the table and the issue's targets (ResNet50, N=256: peak RSS <= 2 GiB and wall <= 2x tf; kstep's time per
sample flat within 20% over the sizes run from 64 to 1024; the small CNN's N samples under the ceiling), and writes
them as JSON (default WORKDIR/many_samples.json).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("engine_table", os.path.join(HERE, "engine_table.py"))
assert _spec is not None and _spec.loader is not None
engine_table: Any = importlib.util.module_from_spec(_spec)  # a sibling script: its measured-process helper
_spec.loader.exec_module(engine_table)

MIB = 1024 * 1024
GIB = 1024 * MIB
RESNET_SHAPE = (224, 224, 3)
CNN_SHAPE = (32, 32, 3)
TARGET_N = 256  # the issue's ResNet50 targets are set at 256 samples
RSS_TARGET_MIB = 2048.0
RATIO_TARGET = 2.0
FLAT_RANGE = (64, 1024)
FLAT_TOLERANCE = 0.20

# argv: OLD NEW REF OUT.json. The user's cheapest alternative: both models' final outputs, batch 32.
TF_SCRIPT = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tf_keras
old_path, new_path, ref_path, out = sys.argv[1:5]
old = tf_keras.models.load_model(old_path, compile=False)
new = tf_keras.models.load_model(new_path, compile=False)
x = np.load(ref_path, mmap_mode="r")
a = old.predict(x, batch_size=32, verbose=0)
b = new.predict(x, batch_size=32, verbose=0)
flips = int(np.sum(a.reshape(len(x), -1).argmax(1) != b.reshape(len(x), -1).argmax(1)))
json.dump({"n": len(x), "max_abs": float(np.max(np.abs(a.astype(np.float64) - b))), "top1_flips": flips},
          open(out, "w"))
"""

# argv: OUTDIR. Two convs + dense on 32x32x3; NEW = OLD with conv2's kernel flipped (kernel[::-1, ::-1]: the
# Theano -> TensorFlow convolution orientation, one migration detail).
CNN_SCRIPT = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tf_keras as k
out = sys.argv[1]
k.utils.set_random_seed(0)
inp = k.Input((32, 32, 3), name="image")
x = k.layers.Conv2D(16, 3, activation="relu", name="conv1")(inp)
x = k.layers.MaxPooling2D(name="pool1")(x)
x = k.layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
x = k.layers.Flatten(name="flatten")(x)
x = k.layers.Dense(10, activation="softmax", name="dense")(x)
model = k.Model(inp, x)
model.save(os.path.join(out, "cnn_old.h5"))
w = model.get_layer("conv2").get_weights()
w[0] = w[0][::-1, ::-1].copy()
model.get_layer("conv2").set_weights(w)
model.save(os.path.join(out, "cnn_new.h5"))
"""


@dataclass(frozen=True)
class Run:
    """One measured process: wall seconds, exit code, peak RSS (MiB), share of the CPUs other processes used, the
    1-minute load average as it was started (before the helper's wait for an idle machine), its own user + system
    CPU seconds (all its threads)."""

    s: float
    rc: int
    peak_rss_mib: float
    foreign: float
    stderr_tail: str = ""
    load: float | None = None
    cpu_s: float | None = None


@dataclass(frozen=True)
class Row:
    """One case at one N: the tf process and the kstep process, run back to back."""

    case: str
    n: int
    tf: Run
    kstep: Run
    kstep_ok: bool  # exit 0/1 and a JSON report written
    tf_result: dict | None = None  # what the tf process found: max |Δ| of the final outputs, top-1 flips
    kstep_result: dict | None = None  # from kstep's report: schema, agree, first divergence

    @property
    def ratio(self) -> float | None:
        """kstep wall / tf wall, when both finished (a time to failure is no ratio)."""
        return self.kstep.s / self.tf.s if self.kstep_ok and self.tf.rc == 0 else None

    @property
    def per_sample_s(self) -> float | None:
        return self.kstep.s / self.n if self.kstep_ok else None

    @property
    def kstep_exit(self) -> str:
        return str(self.kstep.rc) if self.kstep_ok else f"failed: exit {self.kstep.rc}"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: met (True/False) or None when this run did not measure it."""

    name: str
    met: bool | None
    detail: str


def parse_sizes(text: str) -> tuple[int, ...]:
    """'1,32,256' -> (1, 32, 256): positive sample counts, in the order given, no repeats."""
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"--sizes wants distinct positive integers, got {text!r}")
    return sizes


_UNITS = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}


def parse_bytes(text: str) -> int | None:
    """'8G', '8GiB', '512M', '1073741824' -> bytes (binary units); 'none' or '0' -> None (no ceiling)."""
    t = text.strip().upper()
    if t in ("NONE", "0"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", t)
    if not m:
        raise argparse.ArgumentTypeError(f"a size like 8G, 512M or none, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def ceiling_prefix(ceiling: int | None) -> list[str]:
    """The argv prefix that runs a command under an address-space ceiling of `ceiling` bytes (none: [])."""
    return [] if ceiling is None else ["prlimit", f"--as={ceiling}", "--"]


def ref_bytes(n: int, shape: tuple[int, ...]) -> int:
    """Bytes of an (n, *shape) float32 .npy (its 128-byte header included)."""
    return n * int(np.prod(shape)) * 4 + 128


def write_ref(path: str, n: int, shape: tuple[int, ...], seed: int = 0) -> None:
    """A seeded (n, *shape) float32 .npy in [0, 1), written in chunks; sample i is the same for every n."""
    if os.path.exists(path):
        have = np.load(path, mmap_mode="r")
        if have.shape == (n, *shape) and have.dtype == np.float32:
            return
    out = np.lib.format.open_memmap(path + ".part", mode="w+", dtype=np.float32, shape=(n, *shape))
    for i in range(n):
        out[i] = np.random.default_rng([seed, i]).random(shape, dtype=np.float32)
    out.flush()
    del out
    os.replace(path + ".part", path)


def stderr_tail(stderr: str, lines: int = 3, width: int = 200) -> str:
    """The last non-empty lines of a process's stderr, each cut to `width` characters, joined with ' | '."""
    kept = [ln.strip()[:width] for ln in stderr.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def read_report(path: str) -> dict | None:
    """The few facts the table needs from a kstep JSON report (None if it is missing or not kstep's JSON)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("kstep.report/"):
        return None
    first = doc.get("first_divergence") or {}
    verdicts = doc.get("verdicts") or []
    flips = sum(1 for v in verdicts if isinstance(v, dict) and v.get("top1_old") != v.get("top1_new"))
    return {"schema": doc["schema"], "agree": doc.get("agree"), "first_divergence": first.get("layer_old"),
            "verdicts": len(verdicts), "top1_flips": flips}


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(rows: list[Row]) -> str:
    """The rows as a Markdown table (seconds, MiB, ms per sample; a failed kstep run shows its time to failure and
    '-' for the ratio and the time per sample)."""
    head = ("| case | N | kstep s | tf s | kstep/tf | kstep peak RSS MiB | tf peak RSS MiB | kstep exit "
            "| kstep ms/sample | kstep CPU s | other CPU % (kstep / tf) | load before (kstep / tf) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        per = None if r.per_sample_s is None else r.per_sample_s * 1e3
        tf = f"{r.tf.s:.1f}" + ("" if r.tf.rc == 0 else f" (failed: exit {r.tf.rc})")
        lines.append(f"| {r.case} | {r.n} | {r.kstep.s:.1f} | {tf} | {_fmt(r.ratio, '.2f')} | "
                     f"{r.kstep.peak_rss_mib:.0f} | {r.tf.peak_rss_mib:.0f} | {r.kstep_exit} | {_fmt(per, '.1f')} | "
                     f"{_fmt(r.kstep.cpu_s, '.1f')} | "
                     f"{100 * r.kstep.foreign:.0f} / {100 * r.tf.foreign:.0f} | "
                     f"{_fmt(r.kstep.load, '.1f')} / {_fmt(r.tf.load, '.1f')} |")
    return "\n".join(lines)


def judge_targets(rows: list[Row], cnn_case: str = "cnn") -> list[Target]:
    """Issue 13's targets, judged on the rows measured (a target whose row is missing is None: not measured)."""
    out = []
    at = [r for r in rows if r.case == "resnet50" and r.n == TARGET_N]
    if not at:
        out += [Target("ResNet50 N=256 peak RSS <= 2 GiB", None, "N=256 not run"),
                Target("ResNet50 N=256 wall <= 2x tf", None, "N=256 not run")]
    else:
        r = at[0]
        why = "" if r.kstep_ok else f" ({r.kstep_exit})"
        out.append(Target("ResNet50 N=256 peak RSS <= 2 GiB", r.kstep_ok and r.kstep.peak_rss_mib <= RSS_TARGET_MIB,
                          f"{r.kstep.peak_rss_mib:.0f} MiB{why}"))
        out.append(Target("ResNet50 N=256 wall <= 2x tf", r.ratio is not None and r.ratio <= RATIO_TARGET,
                          f"{r.kstep.s:.1f} s / {r.tf.s:.1f} s = {_fmt(r.ratio, '.2f')}x{why}"))
    lo, hi = FLAT_RANGE
    span = [r for r in rows if r.case == "resnet50" and lo <= r.n <= hi]
    name = f"ResNet50 time per sample flat within {FLAT_TOLERANCE:.0%} from {lo} to {hi}"
    if len(span) < 2:
        out.append(Target(name, None, f"needs two sizes in {lo}..{hi}, ran {[r.n for r in span]}"))
    elif not all(r.kstep_ok for r in span):
        out.append(Target(name, False, "failed at N=" + ",".join(str(r.n) for r in span if not r.kstep_ok)))
    else:
        per = [r.kstep.s / r.n for r in span]
        spread = max(per) / min(per) - 1
        cpu = [r.kstep.cpu_s / r.n for r in span if r.kstep.cpu_s is not None]
        also = (f"; in CPU seconds (less sensitive to other jobs): {max(cpu) / min(cpu) - 1:.0%}"
                if len(cpu) == len(span) else "")
        out.append(Target(name, spread <= FLAT_TOLERANCE, f"max/min - 1 = {spread:.0%} over N="
                          + ",".join(str(r.n) for r in span) + also))
    cnn = [r for r in rows if r.case == cnn_case]
    if not cnn:
        out.append(Target("small CNN under the ceiling", None, "not run"))
    else:
        r = cnn[0]
        out.append(Target(f"small CNN, {r.n} samples, under the ceiling", r.kstep_ok,
                          f"{r.kstep_exit}, {r.kstep.s:.1f} s, {r.kstep.peak_rss_mib:.0f} MiB"))
    return out


def rows_from_json(doc: dict) -> list[Row]:
    """The rows of a JSON file this script wrote (to print its table again with --table-from)."""
    fields = ("case", "n", "kstep_ok", "tf_result", "kstep_result")
    return [Row(tf=Run(**r["tf"]), kstep=Run(**r["kstep"]), **{k: r[k] for k in fields}) for r in doc["rows"]]


def report(rows: list[Row], head: str) -> None:
    """Print the table, what each side found, the targets and the stderr of failed kstep runs."""
    print(f"\n{head}\n")
    print(format_table(rows))
    print("\n" + format_findings(rows))
    print("\n" + format_targets(judge_targets(rows)))
    for r in rows:
        if not r.kstep_ok:
            print(f"\n{r.case} N={r.n} kstep stderr: {r.kstep.stderr_tail}")


def format_findings(rows: list[Row]) -> str:
    """What each side found, one line per row (a check that both ran the same comparison)."""
    out = []
    for r in rows:
        tf = r.tf_result or {}
        ks = r.kstep_result or {}
        tf_says = (f"top-1 flips {tf['top1_flips']} of {tf['n']}, final max |d| {tf['max_abs']:.3g}" if tf
                   else f"tf failed: exit {r.tf.rc}")
        ks_says = (f"first divergence {ks['first_divergence']}, top-1 flips {ks['top1_flips']} of {ks['verdicts']} "
                   f"verdicts ({ks['schema']})" if ks else r.kstep_exit)
        out.append(f"- {r.case} N={r.n}: tf {tf_says}; kstep {ks_says}")
    return "\n".join(out)


def format_targets(targets: list[Target]) -> str:
    mark = {True: "met", False: "MISSED", None: "not measured"}
    return "\n".join(f"- {t.name}: **{mark[t.met]}** ({t.detail})" for t in targets)


def measure(argv: list[str], timeout: float) -> Run:
    load = os.getloadavg()[0]
    r = engine_table.run_measured(argv, timeout)
    return Run(s=r["s"], rc=r["rc"], peak_rss_mib=r["peak_rss_mib"], foreign=r["foreign"],
               stderr_tail=stderr_tail(r["stderr"]), load=load, cpu_s=r["cpu_s"])


def paired(case: str, n: int, old: str, new: str, ref: str, args: argparse.Namespace) -> Row:
    """The tf process, then the kstep process under the ceiling, on the same files."""
    tf_out = os.path.join(args.workdir, f"tf_{case}_{n}.json")
    report = os.path.join(args.workdir, f"report_{case}_{n}.json")
    for path in (tf_out, report):
        if os.path.exists(path):
            os.remove(path)
    print(f"[{case} N={n}] tf ...", file=sys.stderr, flush=True)
    tf = measure([sys.executable, "-c", TF_SCRIPT, old, new, ref, tf_out], args.timeout)
    tf_result = json.load(open(tf_out)) if tf.rc == 0 and os.path.exists(tf_out) else None
    print(f"[{case} N={n}] tf {tf.s:.1f} s rc {tf.rc}; kstep ...", file=sys.stderr, flush=True)
    argv = ceiling_prefix(args.ceiling) + shlex.split(args.kstep) + ["report", old, new, ref, "--format", "json",
                                                                    "-o", report]
    ks = measure(argv, args.timeout)
    result = read_report(report)
    ok = ks.rc in (0, 1) and result is not None
    print(f"[{case} N={n}] kstep {ks.s:.1f} s rc {ks.rc} {'ok' if ok else 'FAILED: ' + ks.stderr_tail}",
          file=sys.stderr, flush=True)
    return Row(case, n, tf, ks, ok, tf_result, result)


def prepare(args: argparse.Namespace) -> None:
    """Check the disk, then write the models and REFs that are missing."""
    need = sum(ref_bytes(n, RESNET_SHAPE) for n in args.sizes) + ref_bytes(args.cnn_samples, CNN_SHAPE)
    need += 0 if os.path.exists(os.path.join(args.workdir, "resnet_new.h5")) else 2 * 103 * MIB
    free = shutil.disk_usage(args.workdir).free
    print(f"workdir {args.workdir}: needs up to {need / GIB:.2f} GiB, {free / GIB:.1f} GiB free", file=sys.stderr)
    if need > free:
        sys.exit(f"not enough disk in {args.workdir}")
    if not os.path.exists(os.path.join(args.workdir, "resnet_new.h5")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_big_pair.py"), "--out", args.workdir], check=True)
    if args.cnn_samples and not os.path.exists(os.path.join(args.workdir, "cnn_new.h5")):
        subprocess.run([sys.executable, "-c", CNN_SCRIPT, args.workdir], check=True)
    for n in args.sizes:
        write_ref(os.path.join(args.workdir, f"resnet_ref_{n}.npy"), n, RESNET_SHAPE)
    if args.cnn_samples:
        write_ref(os.path.join(args.workdir, f"cnn_ref_{args.cnn_samples}.npy"), args.cnn_samples, CNN_SHAPE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workdir", default="/tmp/kstep-many", help="models, REFs and reports (never committed)")
    p.add_argument("--sizes", type=parse_sizes, default=(1, 32, 64, 256, 1024), help="ResNet50 sample counts")
    p.add_argument("--cnn-samples", type=int, default=10000, help="small-CNN sample count (0: skip that case)")
    p.add_argument("--ceiling", type=parse_bytes, default=8 * GIB, help="kstep's address-space ceiling (none: off)")
    p.add_argument("--kstep", default="/tmp/kvenv/bin/python -m kstep", help="the kstep command")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    p.add_argument("--wait-idle", type=float, default=10.0, help="wait up to this many s for an idle machine")
    p.add_argument("--json", default=None, help="where to write the results (default WORKDIR/many_samples.json)")
    p.add_argument("--table-from", default=None, metavar="JSON", help="only print the table of an earlier run")
    args = p.parse_args(argv)
    if args.cnn_samples < 0:
        p.error("--cnn-samples must be >= 0")
    args.workdir = os.path.abspath(args.workdir)
    args.json = os.path.abspath(args.json or os.path.join(args.workdir, "many_samples.json"))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table_from:
        with open(args.table_from, encoding="utf-8") as f:
            doc = json.load(f)
        report(rows_from_json(doc), f"{doc['when']}, kstep: {doc['kstep']}, ceiling bytes: {doc['ceiling_bytes']}")
        return
    os.makedirs(args.workdir, exist_ok=True)
    prepare(args)
    os.chdir(args.workdir)  # `python -m kstep` puts the cwd first on sys.path: never pick up a checkout's kstep
    engine_table.WAIT_IDLE = args.wait_idle
    w = args.workdir
    rows = [paired("resnet50", n, f"{w}/resnet_old.h5", f"{w}/resnet_new.h5", f"{w}/resnet_ref_{n}.npy", args)
            for n in args.sizes]
    if args.cnn_samples:
        rows.append(paired("cnn", args.cnn_samples, f"{w}/cnn_old.h5", f"{w}/cnn_new.h5",
                           f"{w}/cnn_ref_{args.cnn_samples}.npy", args))
    targets = judge_targets(rows)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ceiling = "none" if args.ceiling is None else f"{args.ceiling / GIB:g} GiB"
    report(rows, f"{when}, kstep: {args.kstep}, ceiling (address space): {ceiling}")
    doc = {"when": when, "kstep": args.kstep, "ceiling_bytes": args.ceiling, "nproc": os.cpu_count(),
           "rows": [dict(asdict(r), ratio=r.ratio, per_sample_s=r.per_sample_s, kstep_exit=r.kstep_exit)
                    for r in rows],
           "targets": [asdict(t) for t in targets]}
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
