#!/usr/bin/env python3
"""Time `kstep inspect` on a ~500 MB model file and measure its peak memory (weights must stay lazy).

Usage: python benchmarks/inspect_big.py [--mb 512] [--keep DIR]

Writes a Keras-2-style full-model .h5 (a stack of 4096x4096 float32 Dense layers, random weights) into a temporary
directory with h5py, then runs `python -m kstep inspect` and `--json` on it in a subprocess, three times each, and
prints wall seconds and peak RSS (os.wait4), next to the file size. The file is deleted afterwards.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def write_model(path: str, mb: int) -> int:
    units = 4096
    n = max(1, round(mb * 2**20 / (units * units * 4)))
    layers = [{"class_name": "Dense", "config": {"name": f"dense_{i}", "units": units, "activation": "relu",
                                                  "use_bias": True, **({"batch_input_shape": [None, units]}
                                                                       if i == 0 else {})}}
              for i in range(n)]
    config = {"class_name": "Sequential", "config": {"name": "big", "layers": layers}}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([f"dense_{i}".encode() for i in range(n)])
        mw.attrs["keras_version"] = b"2.2.4"
        mw.attrs["backend"] = b"tensorflow"
        for i in range(n):
            g = mw.create_group(f"dense_{i}")
            names = [f"dense_{i}/kernel:0".encode(), f"dense_{i}/bias:0".encode()]
            g.attrs["weight_names"] = np.array(names)
            g.create_dataset(names[0].decode(), data=rng.standard_normal((units, units), dtype=np.float32))
            g.create_dataset(names[1].decode(), data=np.zeros(units, np.float32))
    return os.path.getsize(path)


def run(argv: list[str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.stderr.close()
    return seconds, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--keep", help="write the file here and keep it")
    args = ap.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="kstep-big-")
    path = os.path.join(directory, "big.h5")
    try:
        size = write_model(path, args.mb)
        print(f"file: {size / 2**20:.0f} MiB")
        base = run([sys.executable, "-c", "import numpy, h5py"])
        print(f"baseline python+numpy+h5py import: {base[0]:.2f} s, peak RSS {base[1] / 2**20:.0f} MiB")
        for extra in ([], ["--json"]):
            for _ in range(3):
                seconds, rss, code = run([sys.executable, "-m", "kstep", "inspect", path] + extra)
                print(f"kstep inspect {' '.join(extra):6s}: {seconds:.2f} s, peak RSS {rss / 2**20:.0f} MiB, exit {code}")
    finally:
        if not args.keep:
            os.unlink(path)
            os.rmdir(directory)


if __name__ == "__main__":
    main()
