#!/usr/bin/env python3
"""Table of kstep's speed and memory against TensorFlow and the GEMM limit, from a bench.py run.

Usage (in the modern oracle venv, which has tf_keras; run.sh calls it):
    python benchmarks/engine_table.py --workdir DIR [--bench-json DIR/bench.json] [--repeats 5]
                                      [--kstep "/tmp/kvenv/bin/python -m kstep"] [--json OUT.json]

Reads what ../shared/tools/modern/bench.py wrote with `--workdir DIR --json DIR/bench.json` (the saved
ARCH_224.h5 + ARCH_224.input.npy files and its timings), then for each model:
  - runs `kstep dump --profile` 1 + --repeats times (the first is a warm-up: file cache, imports) in a fresh
    process each, parses the per-layer seconds and the "engine total" (weights preloaded: compute only), and takes
    medians (per layer too);
  - measures numpy float32 GEMM GFLOP/s with kstep's own interpreter (its numpy/BLAS is the one that matters) and
    uses the best of that and bench.py's figure (other jobs on the machine only ever lower a measured rate);
  - counts each layer's FLOPs (2 x multiply-adds of Conv*/Dense/DepthwiseConv/SeparableConv, batch 1, as bench.py)
    and weight bytes with tf_keras, and the bytes of all activations from kstep's own .npz (every layer's output,
    which `kstep dump` holds until it writes them) plus the input;
  - times tf-keras' all-layer predict (a multi-output model over every layer, after 2 warm-ups) in this process
    right after each kstep run, so both meet the same machine conditions (--no-paired-tf: use bench.py's figure).
Before each timed run it waits (up to --wait-idle seconds) for the machine to be idle, and it reports the share of
the CPUs that other processes used during each run.
and prints, per model: TF all-layer in-process time vs kstep engine total (target <= 1.5x), the kstep dump process
vs a fresh TF process doing the same (target <= 0.5x), engine vs GEMM limit (FLOPs / GEMM rate), peak RSS of
`kstep dump` vs weights + all activations (target < 2x), and the layers and layer kinds that lose most against
the GEMM limit (median seconds - FLOPs / GEMM rate).
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "tools", "modern"))
TARGETS = {"engine_vs_tf": 1.5, "process_vs_tf": 0.5, "rss_vs_data": 2.0}
TARGET_ARCHS = {"engine_vs_tf": ("ResNet50", "VGG16")}  # the issue sets the 1.5x target on these two

# Runs argv with stdout dropped and stderr kept, and reports the child's own wall seconds and peak RSS, and
# 'foreign': the share of the machine's CPUs that other processes used meanwhile (from /proc/stat minus the child's
# own CPU time). With wait_idle > 0 it first waits (at most that many seconds) for a 0.5 s spell below 10% busy.
# It is a small separate process so that the child is not forked from a big one (the kernel carries a forking
# process's peak RSS into the child's ru_maxrss at exec).
RSS_HELPER = r"""
import json, os, subprocess, sys, time
def busy():  # (busy, total) jiffies of the whole machine
    v = [int(t) for t in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)
out, timeout, wait_idle, argv = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
ncpu = os.cpu_count() or 1
waited, t_wait = 0.0, time.perf_counter()
while wait_idle > 0 and time.perf_counter() - t_wait < wait_idle:  # wait for a quiet machine (other jobs)
    b0, a0 = busy(); time.sleep(0.5); b1, a1 = busy()
    if (b1 - b0) / max(1, a1 - a0) < 0.10:
        break
waited = time.perf_counter() - t_wait
with open(out + ".err", "wb") as err:
    b0, a0 = busy()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > timeout:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.002)
    dt = time.perf_counter() - t0
    b1, a1 = busy()
hz = os.sysconf("SC_CLK_TCK")
foreign = max(0.0, ((b1 - b0) / hz - ru.ru_utime - ru.ru_stime) / (dt * ncpu))
json.dump({"s": dt, "rc": os.waitstatus_to_exitcode(status), "maxrss_kib": ru.ru_maxrss, "foreign": foreign,
           "waited": waited, "cpu": ru.ru_utime + ru.ru_stime}, open(out, "w"))
"""

GEMM_SCRIPT = r"""
import json, time, numpy as np
res = {}
rng = np.random.default_rng(0)
for n in (1024, 2048, 4096):
    a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
    np.matmul(a, b)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); np.matmul(a, b); ts.append(time.perf_counter() - t0)
    res[n] = {"best": 2.0 * n ** 3 / min(ts) / 1e9, "median": 2.0 * n ** 3 / statistics.median(ts) / 1e9}
print(json.dumps({"numpy": np.__version__, "gemm_gflops": res}))
""".replace("import json, time", "import json, statistics, time")

PROFILE_LINE = re.compile(r"^\s*([0-9.]+) s  (.*) \(([^()]*)\)\s*$")
TOTAL_LINE = re.compile(r"^\s*([0-9.]+) s  engine total\s*$")


WAIT_IDLE = 0.0  # set from --wait-idle


def run_measured(argv, timeout=600.0):
    """-> dict(s, rc, peak_rss_mib, foreign, waited, stderr, cpu_s: the child's user + system CPU seconds)."""
    with tempfile.TemporaryDirectory() as td:
        rep = os.path.join(td, "r.json")
        subprocess.run([sys.executable, "-c", RSS_HELPER, rep, str(timeout), str(WAIT_IDLE)] + list(argv),
                       stdin=subprocess.DEVNULL)
        r = json.load(open(rep))
        err = open(rep + ".err", "rb").read().decode(errors="replace")
    return {"s": r["s"], "rc": r["rc"], "peak_rss_mib": r["maxrss_kib"] / 1024.0, "foreign": r["foreign"],
            "waited": r["waited"], "stderr": err, "cpu_s": r["cpu"]}


def parse_profile(stderr):
    """-> (total seconds or None, [(key, kind, seconds)] in execution order, other stderr lines)."""
    total, layers, other = None, [], []
    for line in stderr.splitlines():
        m = TOTAL_LINE.match(line)
        if m:
            total = float(m.group(1))
            continue
        m = PROFILE_LINE.match(line)
        if m:
            layers.append((m.group(2), m.group(3), float(m.group(1))))
        elif line.strip():
            other.append(line)
    return total, layers, other


def _busy():
    v = [int(t) for t in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def timed_here(fn):
    """Run fn() in this process -> (seconds, share of the CPUs other processes used meanwhile)."""
    import resource
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    r0, b0 = resource.getrusage(resource.RUSAGE_SELF), _busy()
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    r1, b1 = resource.getrusage(resource.RUSAGE_SELF), _busy()
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dt, max(0.0, ((b1 - b0) / hz - own) / (dt * ncpu))


def profile_runs(kstep, h5, xp, out, repeats, warmup=1, timeout=600.0, paired=None):
    """`kstep dump --profile` warmup + repeats times -> dict with medians (total, per layer), process walls, RSS.

    paired: a function timed in this process right after each kstep run (after waiting for an idle machine too),
    so that both sides meet the same conditions (TF's all-layer predict)."""
    runs = []
    for i in range(warmup + repeats):
        r = run_measured(kstep + ["dump", h5, xp, "-o", out, "--profile"], timeout)
        total, layers, other = parse_profile(r["stderr"])
        runs.append({"warmup": i < warmup, "s": r["s"], "rc": r["rc"], "peak_rss_mib": r["peak_rss_mib"],
                     "foreign": r["foreign"], "total": total, "layers": layers, "other": other})
        if r["rc"] != 0 or total is None:
            break
        if paired is not None:
            wait_idle(WAIT_IDLE)
            runs[-1]["paired_s"], runs[-1]["paired_foreign"] = timed_here(paired)
    ok = [x for x in runs if not x["warmup"] and x["rc"] == 0 and x["total"] is not None]
    res = {"runs": [{k: v for k, v in x.items() if k != "layers"} for x in runs]}
    if not ok:
        bad = runs[-1]
        res["error"] = f"exit {bad['rc']}: " + " | ".join(bad["other"][-3:])
        return res
    totals = [x["total"] for x in ok]
    res.update(total_median=statistics.median(totals), total_min=min(totals), totals=totals,
               process_median=statistics.median(x["s"] for x in ok),
               peak_rss_mib=max(x["peak_rss_mib"] for x in ok), foreign=[x["foreign"] for x in ok])
    if paired is not None:
        ps = [x["paired_s"] for x in ok]
        res.update(paired_median=statistics.median(ps), paired_min=min(ps), paired=ps,
                   paired_foreign=[x["paired_foreign"] for x in ok])
    per = {}
    order = []
    for x in ok:
        for key, kind, s in x["layers"]:
            if key not in per:
                per[key] = {"kind": kind, "s": []}
                order.append(key)
            per[key]["s"].append(s)
    res["layers"] = [{"key": k, "kind": per[k]["kind"], "s": statistics.median(per[k]["s"]),
                      "s_min": min(per[k]["s"])} for k in order]
    return res


def layer_flops(layer):
    """2 x multiply-adds of one tf-keras layer for batch 1 (0 for layers without a GEMM-like cost)."""
    cls = type(layer).__name__

    def shp(t):
        return [int(d) if d is not None else 1 for d in t.shape]

    try:
        ins, outs = shp(layer.input), shp(layer.output)
    except Exception:  # noqa: BLE001 - several inputs/outputs: no conv/dense cost here
        return 0
    w = {v.name.split("/")[-1].split(":")[0]: [int(d) for d in v.shape] for v in layer.weights}
    macs = 0
    if cls == "Dense":
        k = w["kernel"]
        macs = int(np.prod(outs[1:-1] or [1])) * k[0] * k[1]
    elif cls in ("Conv1D", "Conv2D", "Conv3D"):
        macs = int(np.prod(outs[1:])) * int(np.prod(w["kernel"][:-1]))
    elif cls == "DepthwiseConv2D":
        macs = int(np.prod(outs[1:])) * int(np.prod(w["depthwise_kernel"][:-2]))
    elif cls in ("SeparableConv1D", "SeparableConv2D"):
        dk, pk = w["depthwise_kernel"], w["pointwise_kernel"]
        spatial = int(np.prod(outs[1:-1]))
        macs = spatial * dk[-2] * dk[-1] * int(np.prod(dk[:-2])) + spatial * int(np.prod(pk[-2:]))
    elif cls in ("Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose"):
        k = w["kernel"]
        macs = int(np.prod(ins[1:])) * int(np.prod(k[:-2])) * k[-2]
    elif cls == "LSTM" or cls == "GRU":
        gates = 4 if cls == "LSTM" else 3
        k = w["kernel"]  # (features, gates*units)
        steps = ins[1]
        macs = steps * (k[0] * k[1] + (k[1] // gates) * k[1])
    return 2 * macs


def model_facts(h5, x):
    """-> (per-layer {name: flops}, weights bytes, a function running tf-keras' all-layer predict on x)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as K
    K.backend.clear_session()
    m = K.models.load_model(h5, compile=False)
    flops = {layer.name: layer_flops(layer) for layer in m.layers}
    wbytes = int(sum(np.prod(v.shape) * v.dtype.size for v in m.weights))
    probe = K.Model(m.inputs, [layer.output for layer in m.layers if type(layer).__name__ != "InputLayer"])

    def tf_all():
        probe.predict(x, verbose=0, batch_size=1)
    return flops, wbytes, tf_all


def npz_bytes(path):
    with np.load(path, allow_pickle=False) as z:
        return int(sum(z[k].nbytes for k in z.files))


def losers(layers, flops, gflops, n=5):
    """-> (top-n layers, top-n kinds) by seconds lost against the GEMM limit."""
    rows = []
    for lay in layers:
        f = flops.get(lay["key"], 0)
        lim = f / (gflops * 1e9)
        rows.append({"key": lay["key"], "kind": lay["kind"], "s": lay["s"], "flops": f, "limit_s": lim,
                     "lost_s": lay["s"] - lim, "x_limit": lay["s"] / lim if lim else None,
                     "gflops": f / lay["s"] / 1e9 if f and lay["s"] else None})
    top = sorted(rows, key=lambda r: -r["lost_s"])[:n]
    kinds = {}
    for r in rows:
        k = kinds.setdefault(r["kind"], {"kind": r["kind"], "count": 0, "s": 0.0, "flops": 0, "limit_s": 0.0})
        k["count"] += 1
        k["s"] += r["s"]
        k["flops"] += r["flops"]
        k["limit_s"] += r["limit_s"]
    for k in kinds.values():
        k["lost_s"] = k["s"] - k["limit_s"]
        k["x_limit"] = k["s"] / k["limit_s"] if k["limit_s"] else None
        k["gflops"] = k["flops"] / k["s"] / 1e9 if k["flops"] and k["s"] else None
    topk = sorted(kinds.values(), key=lambda r: -r["lost_s"])[:n]
    return top, topk, rows


def fmt_s(v):
    return "-" if v is None else f"{v:.3f}"


def fmt_x(v, target=None, le=True):
    if v is None:
        return "-"
    s = f"{v:.2f}x"
    if target is not None:
        ok = v <= target if le else v < target
        s += " ok" if ok else " MISS"
    return s


def wait_idle(limit):
    """Wait up to `limit` seconds for a 0.5 s spell with the machine below 10% busy; -> seconds waited."""
    def busy():
        v = [int(t) for t in open("/proc/stat").readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)
    t0 = time.perf_counter()
    while limit > 0 and time.perf_counter() - t0 < limit:
        b0, a0 = busy()
        time.sleep(0.5)
        b1, a1 = busy()
        if (b1 - b0) / max(1, a1 - a0) < 0.10:
            break
    return time.perf_counter() - t0


def baseline_rss(kstep_py):
    """Peak RSS (MiB) of kstep's interpreter that only imports numpy, h5py and kstep's dump path."""
    r = run_measured([kstep_py, "-c", "import numpy, h5py, kstep.cli, kstep.engine.executor, kstep.io.load"])
    return r["peak_rss_mib"] if r["rc"] == 0 else None


def kstep_gemm(kstep_py):
    wait_idle(WAIT_IDLE)
    r = subprocess.run([kstep_py, "-c", GEMM_SCRIPT], capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise SystemExit(f"GEMM measurement with {kstep_py} failed: {r.stderr[-400:]}")
    return json.loads(r.stdout)


def print_losers(rows: list[dict], first: tuple[str, str], second: tuple[str, str], seconds: str) -> None:
    """One table of the layers (or kinds) that lose most against the GEMM limit; first/second: (heading, key)."""
    print(f"  {first[0]:<44} {second[0]:<22} {seconds:>9} {'limit s':>9} {'lost s':>8} {'x limit':>8} {'GFLOP/s':>8}")
    for t in rows:
        xl = f"{t['x_limit']:.1f}" if t["x_limit"] else "-"
        gf = f"{t['gflops']:.1f}" if t["gflops"] else "-"
        print(f"  {t[first[1]]:<44} {t[second[1]]:<22} {t['s']:>9.4f} {t['limit_s']:>9.4f} {t['lost_s']:>8.4f} "
              f"{xl:>8} {gf:>8}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", required=True, help="bench.py's --workdir (holds ARCH_SIZE.h5, .input.npy)")
    ap.add_argument("--bench-json", default="", help="bench.py's --json (default WORKDIR/bench.json)")
    ap.add_argument("--kstep", default="/tmp/kvenv/bin/python -m kstep")
    ap.add_argument("--repeats", type=int, default=5, help="kstep dump --profile runs per model (after 1 warm-up)")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--wait-idle", type=float, default=20.0, help="before each kstep run, wait up to this many "
                    "seconds for the machine to be idle (other jobs share it; 0: do not wait)")
    ap.add_argument("--no-paired-tf", action="store_true", help="do not time tf-keras' all-layer predict here "
                    "(after each kstep run); compare with bench.py's in-process figure instead")
    ap.add_argument("--json", default="", help="write everything measured here")
    a = ap.parse_args()
    global WAIT_IDLE
    WAIT_IDLE = a.wait_idle
    kstep = shlex.split(a.kstep)
    bench = json.load(open(a.bench_json or os.path.join(a.workdir, "bench.json")))
    env = bench["env"]

    g = kstep_gemm(kstep[0])
    gemm_here = max(v["best"] for v in g["gemm_gflops"].values())
    gemm_bench = max(env.get("gemm_gflops", {0: 0}).values())
    # the best rate seen (here or in bench.py, same machine): a busy spell only ever lowers a measured rate
    gemm = max(gemm_here, gemm_bench)
    print(f"GEMM (numpy {g['numpy']} in {kstep[0]}): " +
          ", ".join(f"{n}^2 {v['best']:.1f} (median {v['median']:.1f})" for n, v in g["gemm_gflops"].items()) +
          f" GFLOP/s; bench.py measured {gemm_bench:.1f} -> the limit uses the best, {gemm:.1f} GFLOP/s")
    print(f"bench.py env: cpus {env.get('cpus')}, BLAS {env.get('blas', {}).get('openblas configuration')}, "
          f"OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE')}, OPENBLAS_L2_SIZE={env.get('OPENBLAS_L2_SIZE')}, "
          f"tensorflow {env.get('tensorflow')}, its GEMM {max(env.get('gemm_gflops', {0: 0}).values()):.1f} GFLOP/s")
    try:
        load = open("/proc/loadavg").read().split()[:3]
        print(f"load average now: {' '.join(load)}")
    except OSError:
        pass

    base = baseline_rss(kstep[0])
    print(f"baseline: {kstep[0]} importing numpy + h5py + kstep peaks at {base:.0f} MiB RSS")
    out = {"kstep_gemm": g, "gemm_gflops_used": gemm, "bench_env": env, "baseline_rss_mib": base, "models": []}
    summary = []
    for r in bench["results"]:
        arch, size = r["arch"], r["size"]
        h5 = os.path.join(a.workdir, f"{arch}_{size}.h5")
        xp = os.path.join(a.workdir, f"{arch}_{size}.input.npy")
        npz = os.path.join(a.workdir, f"{arch}.profile.npz")
        if not os.path.exists(h5):
            print(f"\n== {arch}: {h5} is missing (was bench.py run with --workdir {a.workdir}?)")
            continue
        t0 = time.perf_counter()
        flops, wbytes, tf_all = model_facts(h5, np.load(xp))
        for _ in range(2):
            tf_all()  # warm-up: tracing, allocator
        p = profile_runs(kstep, h5, xp, npz, a.repeats, paired=None if a.no_paired_tf else tf_all)
        print(f"\n== {arch} {size}x{size}: kstep dump --profile x{1 + a.repeats} in {time.perf_counter() - t0:.0f} s")
        if "error" in p:
            print(f"  kstep dump --profile failed: {p['error']}")
            out["models"].append({"arch": arch, "profile": p})
            continue
        act = npz_bytes(npz) + os.path.getsize(xp) - 128  # every layer's output + the input (minus .npy header)
        total_flops = sum(flops.values())
        limit = total_flops / (gemm * 1e9)
        tf_all_b = r.get("tf_all_layers") or {}
        tf_all = ({"median": p["paired_median"], "min": p["paired_min"]} if "paired_median" in p else tf_all_b)
        tf_cold = r.get("tf_cold_dump") or {}
        kd = r.get("kstep_dump") or {}
        m = {"arch": arch, "flops": total_flops, "limit_s": limit, "weights_bytes": wbytes, "activations_bytes": act,
             "tf_all_median": tf_all.get("median"), "tf_all_min": tf_all.get("min"),
             "tf_all_paired": "paired_median" in p, "bench_tf_all_median": tf_all_b.get("median"),
             "bench_tf_all_min": tf_all_b.get("min"),
             "engine_median": p["total_median"], "engine_min": p["total_min"],
             "dump_median": kd.get("median"), "dump_min": kd.get("min"), "dump_rss_mib": kd.get("peak_rss_mib"),
             "tf_cold_median": tf_cold.get("median"), "tf_cold_min": tf_cold.get("min"),
             "tf_cold_rss_mib": tf_cold.get("peak_rss_mib"), "profile_rss_mib": p["peak_rss_mib"],
             "profile_process_median": p["process_median"]}
        m["engine_vs_tf"] = m["engine_median"] / m["tf_all_median"] if m["tf_all_median"] else None
        m["engine_vs_tf_min"] = m["engine_min"] / m["tf_all_min"] if m["tf_all_min"] else None
        m["process_vs_tf"] = m["dump_median"] / m["tf_cold_median"] if m["dump_median"] and m["tf_cold_median"] \
            else None
        m["engine_vs_limit"] = m["engine_median"] / limit if limit else None
        m["tf_vs_limit"] = m["tf_all_median"] / limit if limit and m["tf_all_median"] else None
        data_mib = (wbytes + act) / 2**20
        rss = m["dump_rss_mib"] or m["profile_rss_mib"]
        m["rss_vs_data"] = rss / data_mib if rss else None
        m["rss_above_baseline_vs_data"] = (rss - base) / data_mib if rss and base else None
        top, topk, rows = losers(p["layers"], flops, gemm, a.top)
        m.update(top_layers=top, top_kinds=topk, layers=rows, profile=p)
        out["models"].append(m)
        summary.append(m)

        print(f"  FLOPs {total_flops / 1e9:.2f} G -> GEMM limit {limit:.4f} s; weights {wbytes / 2**20:.1f} MiB, "
              f"all activations {act / 2**20:.1f} MiB")
        if m["tf_all_paired"]:
            print(f"  TF all-layer in-process     median {fmt_s(m['tf_all_median'])} s  min {fmt_s(m['tf_all_min'])} s"
                  f"   ({m['tf_vs_limit'] or 0:.1f}x the GEMM limit) runs {', '.join(f'{t:.3f}' for t in p['paired'])}"
                  f"; other processes used {', '.join(f'{100 * f:.0f}%' for f in p['paired_foreign'])}")
        print(f"  TF all-layer in bench.py    median {fmt_s(m['bench_tf_all_median'])} s  "
              f"min {fmt_s(m['bench_tf_all_min'])} s   (no waiting for an idle machine)")
        print(f"  kstep engine total          median {fmt_s(m['engine_median'])} s  min {fmt_s(m['engine_min'])} s"
              f"   runs {', '.join(f'{t:.3f}' for t in p['totals'])}; other processes used "
              f"{', '.join(f'{100 * f:.0f}%' for f in p['foreign'])} of the CPUs meanwhile")
        print(f"  kstep dump process          median {fmt_s(m['dump_median'])} s  min {fmt_s(m['dump_min'])} s"
              f"   peak RSS {m['dump_rss_mib'] or 0:.0f} MiB (--profile runs: {m['profile_rss_mib']:.0f} MiB)"
              f" = {m['rss_vs_data'] or 0:.2f}x weights+activations ({(m['rss_above_baseline_vs_data'] or 0):.2f}x "
              f"without the {base or 0:.0f} MiB baseline)")
        print(f"  TF fresh-process dump       median {fmt_s(m['tf_cold_median'])} s  min {fmt_s(m['tf_cold_min'])} s"
              f"   peak RSS {m['tf_cold_rss_mib'] or 0:.0f} MiB")
        print_losers(top, ("layer (top by seconds lost vs GEMM limit)", "key"), ("kind", "kind"), "median s")
        print_losers(topk, ("kind (top by seconds lost)", "kind"), ("count", "count"), "sum s")

    if summary:
        print("\n| model | TF all-layer s (med/min) | kstep engine s (med/min) | engine/TF (<=1.5) | kstep dump s | "
              "TF fresh process s | dump/TF process (<=0.5) | GEMM limit s | engine/limit | TF/limit | "
              "peak RSS MiB | weights+acts MiB | RSS/data (<2) | (RSS-baseline)/data |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for m in summary:
            tgt = TARGETS["engine_vs_tf"] if m["arch"] in TARGET_ARCHS["engine_vs_tf"] else None
            rss = m["dump_rss_mib"] or m["profile_rss_mib"]
            print(f"| {m['arch']} | {fmt_s(m['tf_all_median'])} / {fmt_s(m['tf_all_min'])} | "
                  f"{fmt_s(m['engine_median'])} / {fmt_s(m['engine_min'])} | {fmt_x(m['engine_vs_tf'], tgt)} | "
                  f"{fmt_s(m['dump_median'])} | {fmt_s(m['tf_cold_median'])} | "
                  f"{fmt_x(m['process_vs_tf'], TARGETS['process_vs_tf'])} | {m['limit_s']:.4f} | "
                  f"{fmt_x(m['engine_vs_limit'])} | {fmt_x(m['tf_vs_limit'])} | {rss:.0f} | "
                  f"{(m['weights_bytes'] + m['activations_bytes']) / 2**20:.0f} | "
                  f"{fmt_x(m['rss_vs_data'], TARGETS['rss_vs_data'], le=False)} | "
                  f"{fmt_x(m['rss_above_baseline_vs_data'])} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
