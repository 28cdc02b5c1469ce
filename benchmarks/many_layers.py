#!/usr/bin/env python3
"""Write model files with a huge layer count and time kstep on them (issue 12: "a 50k-layer file must be inspected
in seconds").

Usage:
    python benchmarks/many_layers.py write OUT.h5 --layers 50000 [--form sequential|functional] [--keras 2.2.4]
    python benchmarks/many_layers.py time --layers 10000 20000 50000 [--repeats 3] [--commands inspect report dump]
        [--kstep "/tmp/venv-P/bin/python -m kstep"] [--keep DIR]
    python benchmarks/many_layers.py phases FILE.h5
    python benchmarks/many_layers.py hdf5-costs FILE.h5

`write` makes a legacy full-model .h5 with h5py alone (no Keras needed; the layout is the one Keras 2.2.4 writes:
`model_config`, `model_weights/layer_names<k>` chunked by 2,000 as Keras does above its 64 kB attribute limit, one
group per layer with `weight_names` and its datasets). The layers alternate Dense(1) (kernel (1, 1), bias (1,),
weights attached) and Activation('tanh') (no weights), after a (None, 1) input. `sequential` writes a Sequential
config (one `batch_input_shape` on the first layer), `functional` a Model with `inbound_nodes`.

`time` writes each size into a temporary folder (or `--keep DIR`), a (1, 1) float32 reference input next to it, and
runs each command in a fresh process (`kstep inspect FILE`, `kstep report FILE FILE REF`, `kstep dump FILE REF -o
OUT.npz`), printing wall and CPU (user + system) seconds, median and min, and peak RSS (os.wait4) per size and
command. On a shared machine the CPU seconds are the steadier figure.

`phases` runs `kstep inspect FILE` in this process and prints the CPU seconds of each step (the weights walk,
parsing, attaching, ordering, the output-shape run, the document, the text), by wrapping the functions that
`kstep.io.load` and `kstep.describe` call. `hdf5-costs` times, on a file that `write` made, each HDF5 call the
weights walk makes per layer, in the walk's order (so each call pays for the metadata it is first to load), and a
single H5Lvisit of the whole weights group: the floor of any walk through h5py that keeps every check.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

CHUNK = 2000  # names per layer_names<k> attribute, as Keras chunks them


def _layer(i: int) -> tuple[str, str, dict]:
    if i % 2 == 0:
        return f"dense_{i}", "Dense", {"units": 1, "activation": "linear", "use_bias": True}
    return f"act_{i}", "Activation", {"activation": "tanh"}


def model_config(n: int, form: str) -> dict:
    """The Keras 2 model config of `n` alternating Dense(1)/Activation layers after a (None, 1) input."""
    if form == "sequential":
        layers = []
        for i in range(n):
            name, cls, cfg = _layer(i)
            cfg = dict(cfg, name=name, **({"batch_input_shape": [None, 1], "dtype": "float32"} if i == 0 else {}))
            layers.append({"class_name": cls, "config": cfg})
        return {"class_name": "Sequential", "config": {"name": "many", "layers": layers}}
    functional: list[dict] = [{"name": "x", "class_name": "InputLayer", "inbound_nodes": [],
                               "config": {"batch_input_shape": [None, 1], "dtype": "float32", "name": "x"}}]
    prev = "x"
    for i in range(n):
        name, cls, cfg = _layer(i)
        functional.append({"name": name, "class_name": cls, "config": dict(cfg, name=name),
                           "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = name
    return {"class_name": "Model", "config": {"name": "many", "layers": functional,
                                              "input_layers": [["x", 0, 0]], "output_layers": [[prev, 0, 0]]}}


def write(path: Path, n: int, form: str = "sequential", version: str = "2.2.4") -> Path:
    """Write the `n`-layer model as a legacy .h5 at `path`; returns `path`."""
    config = model_config(n, form)
    names = [c["config"]["name"] if form == "sequential" else c["name"] for c in config["config"]["layers"]]
    rng = np.random.default_rng(n)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["keras_version"] = version.encode()
        g.attrs["backend"] = b"tensorflow"
        encoded = [name.encode() for name in names]
        for k in range(0, len(encoded), CHUNK):
            g.attrs[f"layer_names{k // CHUNK}"] = np.array(encoded[k:k + CHUNK])
        for name in names:
            lg = g.create_group(name)
            if name.startswith("dense_"):
                weight_names = [f"{name}/kernel:0", f"{name}/bias:0"]
                lg.attrs["weight_names"] = np.array([w.encode() for w in weight_names])
                lg.create_dataset(weight_names[0], data=rng.uniform(0.5, 1.0, (1, 1)).astype(np.float32))
                lg.create_dataset(weight_names[1], data=np.zeros(1, np.float32))
            else:
                lg.attrs["weight_names"] = np.array([])  # what Keras writes for no weights (float64, empty)
    return path


def _run(argv: list[str]) -> tuple[float, float, int, int]:
    """(wall s, CPU s (user + system), peak RSS bytes, exit code) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        print(f"  exit {code}: {err.strip()[-300:]}", file=sys.stderr)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, code


def time_sizes(sizes: list[int], commands: list[str], repeats: int, kstep: str, folder: Path, form: str) -> None:
    base = shlex.split(kstep)
    ref = folder / "ref.npy"
    np.save(ref, np.full((1, 1), 0.5, np.float32))
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} kstep: {kstep}, form {form}, load "
          f"{open('/proc/loadavg').read().split()[0]}")
    for n in sizes:
        path = folder / f"many_{form}_{n}.h5"
        if not path.exists():
            write(path, n, form)
        for command in commands:
            argv = {"inspect": [*base, "inspect", str(path)],
                    "report": [*base, "report", str(path), str(path), str(ref)],
                    "dump": [*base, "dump", str(path), str(ref), "-o", str(folder / "out.npz")]}[command]
            runs = [_run(argv) for _ in range(repeats)]
            wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
            print(f"{n:>7} layers  {command:8} wall median {statistics.median(wall):6.2f} s  min {min(wall):6.2f} s"
                  f"  CPU median {statistics.median(cpu):6.2f} s  min {min(cpu):6.2f} s  peak RSS "
                  f"{max(r[2] for r in runs) / 2**20:5.0f} MiB  exit {runs[-1][3]}  "
                  f"({path.stat().st_size / 2**20:.0f} MiB file)", flush=True)


def phases(path: Path) -> None:
    """Print the CPU seconds of each step of `kstep inspect path` (in this process; stdout is discarded)."""
    import contextlib
    import io

    from kstep import cli, describe
    from kstep.io import load
    spent: dict[str, float] = {}

    def timed(module, name: str, label: str) -> None:
        fn = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - start
        setattr(module, name, wrapper)

    for module, name, label in ((load, "parse_json", "parse model_config"), (load, "make_context", "context"),
                                (load, "stored_by_layer", "weights walk (HDF5)"),
                                (load, "attach_h5", "attach + shape checks"), (load, "execution_order", "order"),
                                (describe, "output_shapes", "output-shape run"),
                                (describe, "describe", "describe (shape run included)"),
                                (describe, "to_text", "text")):
        timed(module, name, label)
    load.GraphParser = _timed_parser(load.GraphParser, spent)  # type: ignore[misc]
    start = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["inspect", str(path)])
    total = time.process_time() - start
    print(f"{path}: exit {code}, {total:.2f} s CPU in cli.main (imports before it not counted)")
    for label, seconds in spent.items():
        print(f"  {label:30} {seconds:6.2f} s")


def hdf5_costs(path: Path) -> None:
    """Print the CPU seconds of each kind of HDF5 call the weights walk makes on `path` (made by `write`)."""
    from kstep.io import h5safe

    spent: dict[str, float] = {}

    def timed(label: str, fn, *args, **kwargs):
        start = time.process_time()
        out = fn(*args, **kwargs)
        spent[label] = spent.get(label, 0.0) + time.process_time() - start
        return out

    with h5py.File(path, "r", locking=False) as f:
        g = f["model_weights"].id
        names = [lay["config"]["name"].encode() for lay in json.loads(f.attrs["model_config"])["config"]["layers"]]
        types: dict = {}
        timed("H5Literate of the weights group (link types)", g.links.iterate,
              lambda name, info: types.__setitem__(name, info.type), info=True)
        for key in names:
            size = timed("H5Aget_info_by_name weight_names", lambda k=key: h5py.h5a.get_info(
                g, name=b"weight_names", obj_name=k).data_size)
            if size == 0:
                continue
            attr = timed("H5Aopen_by_name weight_names", h5py.h5a.open, g, b"weight_names", obj_name=key)
            shape = timed("its dataspace (shape)", lambda: attr.shape)
            tid = timed("its type + 4 type queries", lambda: (lambda t: (t, t.get_class(), t.is_variable_str(),
                                                                          t.get_strpad(), t.get_size()))(
                attr.get_type()))[0]
            arr = np.zeros(shape, f"S{tid.get_size()}")
            timed("H5Aread", attr.read, arr, mtype=tid)
            timed("H5Lget_info x3 (subgroup, kernel, bias)", lambda k=key: [g.links.get_info(p) for p in (
                k + b"/" + k, k + b"/" + k + b"/kernel:0", k + b"/" + k + b"/bias:0")])
            for wname in arr:
                did = timed("H5Dopen by path", h5py.h5d.open, g, key + b"/" + wname)
                timed("H5Dget_offset + H5Oget_info (no EFL message)", lambda: (
                    did.get_offset(), h5py.h5o.get_info(did).hdr.mesg.present))
                timed("dataspace (shape)", lambda: did.shape)
                timed("datatype (dtype_of: H5Dget_type + H5Tequal)", lambda: h5safe.dtype_of(did.get_type()))
                timed("H5Dclose", did.close)
    with h5py.File(path, "r", locking=False) as f:
        links: list = []
        group = f["model_weights"]
        timed("(apart) H5Lvisit of the whole group", group.id.links.visit, links.append)
    total = sum(v for k, v in spent.items() if not k.startswith("("))
    print(f"{path}: {len(names)} layers, {total:.2f} s CPU in the calls above")
    for label, seconds in spent.items():
        print(f"  {label:46} {seconds:6.2f} s")


def _timed_parser(parser_cls, spent: dict[str, float]):
    """GraphParser whose top-level `model` call is timed (the constructor wrapper above only counts __init__)."""
    class Timed(parser_cls):
        def model(self, entry, name_hint="model", depth=0):
            if depth:
                return super().model(entry, name_hint, depth)
            start = time.process_time()
            try:
                return super().model(entry, name_hint, depth)
            finally:
                key = "graph (parse + canonicalize)"
                spent[key] = spent.get(key, 0.0) + time.process_time() - start
    return Timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("write")
    w.add_argument("out", type=Path)
    w.add_argument("--layers", type=int, default=50_000)
    w.add_argument("--form", choices=("sequential", "functional"), default="sequential")
    w.add_argument("--keras", default="2.2.4")
    ph = sub.add_parser("phases")
    ph.add_argument("file", type=Path)
    hc = sub.add_parser("hdf5-costs")
    hc.add_argument("file", type=Path)
    t = sub.add_parser("time")
    t.add_argument("--layers", type=int, nargs="+", default=[10_000, 20_000, 50_000])
    t.add_argument("--form", choices=("sequential", "functional"), default="sequential")
    t.add_argument("--commands", nargs="+", choices=("inspect", "report", "dump"), default=["inspect"])
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--kstep", default=f"{sys.executable} -m kstep")
    t.add_argument("--keep", type=Path, help="write the files here and keep them (default: a temporary folder)")
    args = ap.parse_args()
    if args.what == "write":
        write(args.out, args.layers, args.form, args.keras)
        return
    if args.what == "phases":
        phases(args.file)
        return
    if args.what == "hdf5-costs":
        hdf5_costs(args.file)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        time_sizes(args.layers, args.commands, args.repeats, args.kstep, args.keep, args.form)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            time_sizes(args.layers, args.commands, args.repeats, args.kstep, Path(tmp), args.form)


if __name__ == "__main__":
    main()
