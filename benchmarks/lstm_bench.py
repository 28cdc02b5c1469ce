#!/usr/bin/env python3
"""Time kstep on a 2-layer LSTM against tf-keras, a fresh TensorFlow process, and the GEMM/GEMV limits.

Usage (in the modern oracle venv, e.g. /tmp/oracle-venvs/modern/bin/python):
    python benchmarks/lstm_bench.py [--units 256] [--features 64] [--steps 200] [--repeats 5] [--cold-repeats 2]
                                    [--kstep "/tmp/kvenv/bin/python -m kstep"] [--workdir DIR] [--json OUT.json]

Builds, with seeded random weights (and random biases), Input(steps, features) -> LSTM(units,
return_sequences=True) -> LSTM(units), batch 1, with tf-keras; times in this process the median (and min) of
--repeats all-layer predicts (a multi-output model over both LSTMs, after a warm-up); saves it as a legacy .h5;
then runs, each in a fresh process:
  - `kstep dump --profile` 1 + --repeats times: the engine total (weights preloaded: compute only), per layer;
  - `kstep dump` (no --profile) 1 + --repeats times: the whole process, with its peak RSS;
  - a fresh python that imports tf_keras, loads the .h5, predicts every layer and writes an .npz (--cold-repeats);
and checks kstep's outputs against tf-keras. FLOPs = 2 x multiply-adds (input projection + recurrent matmul).
Two limits are printed: FLOPs / numpy GEMM rate (as for the CNNs; unreachable here, since at batch 1 the recurrent
product is a matrix-vector product per step) and a 'numpy floor': the input projection as one GEMM plus
`steps` (1, units) @ (units, 4 units) products, timed in kstep's interpreter.
If kstep reports a layer unsupported, that is printed and the kstep rows are skipped.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engine_table as ET  # noqa: E402
from engine_table import baseline_rss, kstep_gemm, parse_profile, run_measured  # noqa: E402

COLD_SCRIPT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tf_keras as K
m = K.models.load_model(sys.argv[1], compile=False)
x = np.load(sys.argv[2])
outs = [l.output for l in m.layers if type(l).__name__ != "InputLayer"]
names = [l.name for l in m.layers if type(l).__name__ != "InputLayer"]
vals = K.Model(m.inputs, outs).predict(x, verbose=0, batch_size=1)
np.savez(sys.argv[3], **dict(zip(names, vals)))
"""

# The numpy floor of one LSTM layer at batch 1: x @ W for all steps at once, then per step h @ U (a GEMV) plus
# the gate arithmetic; timed in kstep's interpreter (same numpy/BLAS as the engine).
FLOOR_SCRIPT = r"""
import json, statistics, sys, time, numpy as np
steps, feats, units = (int(v) for v in sys.argv[1:4])
rng = np.random.default_rng(0)
def layer(fin):
    x = rng.standard_normal((steps, fin), dtype=np.float32)
    W = rng.standard_normal((fin, 4 * units), dtype=np.float32) * 0.1
    U = rng.standard_normal((units, 4 * units), dtype=np.float32) * 0.1
    def full():
        xw = x @ W
        h = np.zeros((1, units), np.float32); c = np.zeros((1, units), np.float32)
        for t in range(steps):
            z = xw[t:t + 1] + h @ U
            i = 1 / (1 + np.exp(-z[:, :units])); f = 1 / (1 + np.exp(-z[:, units:2 * units]))
            g = np.tanh(z[:, 2 * units:3 * units]); o = 1 / (1 + np.exp(-z[:, 3 * units:]))
            c = f * c + i * g
            h = o * np.tanh(c)
        return h
    def matmuls():
        xw = x @ W
        h = np.zeros((1, units), np.float32)
        for t in range(steps):
            z = xw[t:t + 1] + h @ U
            h = z[:, :units]
        return h
    res = {}
    for name, fn in (("matmuls", matmuls), ("full_numpy", full)):
        fn()
        ts = []
        for _ in range(7):
            t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
        res[name] = {"median": statistics.median(ts), "min": min(ts)}
    return res
print(json.dumps({"layer1": layer(feats), "layer2": layer(units)}))
"""


def timeit(fn, repeats, warmup=1):
    ts = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            ts.append(time.perf_counter() - t0)
    return {"median": statistics.median(ts), "min": min(ts), "all": ts}


def build(units, features, steps, seed):
    import tf_keras as K
    K.backend.clear_session()
    K.utils.set_random_seed(seed)
    inp = K.Input((steps, features), batch_size=None, name="x")
    h = K.layers.LSTM(units, return_sequences=True, name="lstm_1")(inp)
    y = K.layers.LSTM(units, name="lstm_2")(h)
    m = K.Model(inp, y, name="lstm2")
    rng = np.random.default_rng(seed)
    for w in m.weights:  # random biases too, so that no gate sits at its initial value
        if w.name.split("/")[-1].startswith("bias"):
            w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32))
    x = rng.uniform(-1, 1, (1, steps, features)).astype(np.float32)
    return K, m, x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold-repeats", type=int, default=2)
    ap.add_argument("--kstep", default="/tmp/kvenv/bin/python -m kstep")
    ap.add_argument("--workdir", default="", help="keep the .h5/.npy/.npz here (default: a temporary directory)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--wait-idle", type=float, default=20.0, help="before each kstep run, wait up to this many "
                    "seconds for the machine to be idle (other jobs share it; 0: do not wait)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    ET.WAIT_IDLE = a.wait_idle
    kstep = shlex.split(a.kstep)
    own = None
    workdir = a.workdir
    if not workdir:
        own = tempfile.TemporaryDirectory(prefix="kstep-lstm-")
        workdir = own.name
    os.makedirs(workdir, exist_ok=True)
    tag = f"LSTM2_u{a.units}_f{a.features}_t{a.steps}"
    h5 = os.path.join(workdir, tag + ".h5")
    xp = os.path.join(workdir, tag + ".input.npy")
    r = {"arch": tag, "units": a.units, "features": a.features, "steps": a.steps}

    K, m, x = build(a.units, a.features, a.steps, a.seed)
    np.save(xp, x)
    m.save(h5, save_format="h5")
    u, f, t = a.units, a.features, a.steps
    r["flops"] = 2 * t * 4 * u * ((f + u) + (u + u))
    r["weights_bytes"] = int(sum(np.prod(w.shape) * 4 for w in m.weights))
    probe = K.Model(m.inputs, [m.get_layer("lstm_1").output, m.get_layer("lstm_2").output])
    ref = None

    def tf_all():
        nonlocal ref
        ref = probe.predict(x, verbose=0, batch_size=1)
    r["tf_all_layers"] = timeit(tf_all, a.repeats)
    r["tf_call"] = timeit(lambda: probe(x, training=False), a.repeats)
    r["activations_bytes"] = int(sum(v.nbytes for v in ref) + x.nbytes)

    g = kstep_gemm(kstep[0])
    gemm = max(v["best"] for v in g["gemm_gflops"].values())
    r["gemm_gflops"] = gemm
    r["limit_s"] = r["flops"] / (gemm * 1e9)
    fl = subprocess.run([kstep[0], "-c", FLOOR_SCRIPT, str(t), str(f), str(u)], capture_output=True, text=True,
                        timeout=a.timeout)
    floor = json.loads(fl.stdout) if fl.returncode == 0 else None
    if floor:
        r["floor_matmuls_s"] = floor["layer1"]["matmuls"]["min"] + floor["layer2"]["matmuls"]["min"]
        r["floor_numpy_s"] = floor["layer1"]["full_numpy"]["min"] + floor["layer2"]["full_numpy"]["min"]

    out = os.path.join(workdir, tag + ".kstep.npz")
    prof = []
    for i in range(1 + a.repeats):
        run = run_measured(kstep + ["dump", h5, xp, "-o", out, "--profile"], a.timeout)
        total, layers, other = parse_profile(run["stderr"])
        prof.append({"warmup": i == 0, "rc": run["rc"], "s": run["s"], "total": total, "layers": layers,
                     "other": other, "foreign": run["foreign"]})
        if run["rc"] != 0 or total is None:
            break
    ok = [p for p in prof if not p["warmup"] and p["rc"] == 0 and p["total"] is not None]
    if not ok:
        last = prof[-1]
        r["kstep_error"] = f"exit {last['rc']}: " + " | ".join(last["other"][-3:])[-600:]
    else:
        r["engine"] = {"median": statistics.median(p["total"] for p in ok), "min": min(p["total"] for p in ok),
                       "all": [p["total"] for p in ok], "foreign": [p["foreign"] for p in ok]}
        per = {}
        for p in ok:
            for key, kind, s in p["layers"]:
                per.setdefault((key, kind), []).append(s)
        r["engine_layers"] = [{"key": k, "kind": kd, "median": statistics.median(v)} for (k, kd), v in per.items()]
        dumps = []
        for i in range(1 + a.repeats):
            run = run_measured(kstep + ["dump", h5, xp, "-o", out], a.timeout)
            if i:
                dumps.append(run)
        okd = [d for d in dumps if d["rc"] == 0]
        if okd:
            r["kstep_dump"] = {"median": statistics.median(d["s"] for d in okd), "min": min(d["s"] for d in okd),
                               "peak_rss_mib": max(d["peak_rss_mib"] for d in okd)}
        with np.load(out) as z:
            worst = 0.0
            for name, v in zip(["lstm_1", "lstm_2"], ref):
                if name in z.files and z[name].shape == v.shape:
                    worst = max(worst, float(np.max(np.abs(z[name] - v) / np.maximum(np.abs(v), 1.0))))
                else:
                    worst = float("inf")
            r["kstep_vs_tf_max_rel_floor1"] = worst

    if a.cold_repeats:
        cold = [run_measured([sys.executable, "-c", COLD_SCRIPT, h5, xp, os.path.join(workdir, tag + ".tf.npz")],
                             a.timeout) for _ in range(a.cold_repeats)]
        okc = [c for c in cold if c["rc"] == 0]
        if okc:
            r["tf_cold_dump"] = {"median": statistics.median(c["s"] for c in okc), "min": min(c["s"] for c in okc),
                                 "peak_rss_mib": max(c["peak_rss_mib"] for c in okc)}

    r["baseline_rss_mib"] = base = baseline_rss(kstep[0])
    data_mib = (r["weights_bytes"] + r["activations_bytes"]) / 2**20
    print(f"== {tag}: 2 x LSTM({u}), input (1, {t}, {f}), FLOPs {r['flops'] / 1e6:.0f} M, weights "
          f"{r['weights_bytes'] / 2**20:.2f} MiB, all activations {r['activations_bytes'] / 2**20:.2f} MiB")
    print(f"  GEMM {gemm:.1f} GFLOP/s (numpy {g['numpy']}, {kstep[0]}) -> GEMM limit {r['limit_s'] * 1e3:.2f} ms")
    if floor:
        print(f"  numpy floor: matmuls only (x@W + {t} x (1,{u})@({u},{4 * u}) per layer) "
              f"{r['floor_matmuls_s'] * 1e3:.2f} ms; a plain numpy LSTM loop {r['floor_numpy_s'] * 1e3:.2f} ms")
    ta = r["tf_all_layers"]
    print(f"  tf-keras all-layer predict (in-process)  median {ta['median']:.4f} s  min {ta['min']:.4f} s")
    print(f"  tf-keras eager call (in-process)         median {r['tf_call']['median']:.4f} s  "
          f"min {r['tf_call']['min']:.4f} s")
    if "kstep_error" in r:
        print(f"  kstep: NOT MEASURED - kstep dump failed ({r['kstep_error']})")
    else:
        e = r["engine"]
        print(f"  kstep engine total (--profile)           median {e['median']:.4f} s  min {e['min']:.4f} s   "
              + ", ".join(f"{lay['key']} {lay['median']:.4f} s" for lay in r["engine_layers"])
              + f"; runs {', '.join(f'{v:.4f}' for v in e['all'])}, other processes used "
              + ", ".join(f"{100 * v:.0f}%" for v in e["foreign"]) + " of the CPUs meanwhile")
        if "kstep_dump" in r:
            d = r["kstep_dump"]
            print(f"  kstep dump process                       median {d['median']:.3f} s  min {d['min']:.3f} s  "
                  f"peak RSS {d['peak_rss_mib']:.0f} MiB")
        print(f"  kstep vs tf-keras max rel (floor 1): {r['kstep_vs_tf_max_rel_floor1']:.2e}")
    if "tf_cold_dump" in r:
        c = r["tf_cold_dump"]
        print(f"  tf-keras fresh-process dump              median {c['median']:.3f} s  min {c['min']:.3f} s  "
              f"peak RSS {c['peak_rss_mib']:.0f} MiB")
    if "engine" in r:
        e = r["engine"]["median"]
        print(f"  ratio engine / tf all-layer = {e / ta['median']:.2f}  (min/min {r['engine']['min'] / ta['min']:.2f})")
        if "kstep_dump" in r and "tf_cold_dump" in r:
            print(f"  ratio kstep dump / tf fresh process = {r['kstep_dump']['median'] / r['tf_cold_dump']['median']:.2f}")
        print(f"  ratio engine / GEMM limit = {e / r['limit_s']:.1f}" +
              (f"; engine / numpy matmul floor = {e / r['floor_matmuls_s']:.2f}; engine / plain numpy loop = "
               f"{e / r['floor_numpy_s']:.2f}" if floor else ""))
        if "kstep_dump" in r:
            rss = r["kstep_dump"]["peak_rss_mib"]
            print(f"  ratio peak RSS / (weights + activations) = {rss / data_mib:.1f}  (data {data_mib:.2f} MiB; "
                  f"kstep's interpreter importing numpy + h5py + kstep alone peaks at {base or 0:.0f} MiB: "
                  f"{(rss - (base or 0)) / data_mib:.2f}x above that)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=1, default=float)
    if own:
        own.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
