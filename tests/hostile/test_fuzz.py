"""Property-based fuzzing of the reader and the commands.

In-process: a valid small model's config and attributes are mutated (type swaps, shape changes, removed keys) and
every command must end with exit 0, 2 or 3, with no exception escaping `kstep.cli.main`. Raw byte mutations (bit
flips, truncation) are parsed in a child process with a timeout and a memory limit, since libhdf5 itself can crash
on them; the child must exit 0/2/3 (or be killed by the limits, never print a Python traceback).
"""

from __future__ import annotations

import copy
import resource
import subprocess
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstep.cli import main
from tests.hostile import make_hostile as mk

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(-3, 5), max_size=4), st.dictionaries(
                     st.text(max_size=4), st.integers(), max_size=2))


def _paths(config):
    """Every (container, key) inside the config."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k in list(node):
                out.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                out.append((node, i))
                walk(node[i])
    walk(config)
    return out


@settings(derandomize=True, max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_configs(data, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("fuzz")
    config = copy.deepcopy(mk.model_config())
    for _ in range(data.draw(st.integers(1, 3))):
        spots = _paths(config)
        container, key = spots[data.draw(st.integers(0, len(spots) - 1))]
        if data.draw(st.booleans()) and isinstance(container, dict):
            del container[key]
        else:
            container[key] = data.draw(JUNK)
    model = mk.write_model(d / "m.h5", config)
    ref = mk.valid_input(d)
    for argv in (["inspect", model], ["dump", model, ref, "-o", d / "o.npz"], ["report", model, model, ref]):
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code in (0, 1, 2, 3), err
        assert "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err


ATTR_VALUES = [np.int64(3), np.float64(1.5), np.zeros((2, 2)), b"\xff\xfe", np.array([1, 2, 3]), b"", b"{}",
               np.array([b"dense", b"ghost"]), np.array([b"dense/kernel:0", b"dense/kernel:0"]), b"dense/bias:0"]


@settings(derandomize=True, max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_weights_and_attributes(data, tmp_path_factory, capsys):
    """Weight arrays of other shapes/dtypes, and attributes (model_config, versions, layer_names, weight_names)
    of other types and contents."""
    d = tmp_path_factory.mktemp("fuzzw")
    shape = tuple(data.draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    dtype = data.draw(st.sampled_from(["f4", "f8", "i4", "f2", "u1", "b1"]))
    weights = {"dense": [("dense/kernel:0", np.ones(shape, dtype)), ("dense/bias:0", np.ones(3, "f4"))]}
    model = mk.write_model(d / "m.h5", mk.model_config(), weights=weights)
    import h5py

    with h5py.File(model, "a") as f:
        target = data.draw(st.sampled_from(["keras_version", "backend", "model_config", "layer_names",
                                            "weight_names"]))
        holder = {"layer_names": f["model_weights"], "weight_names": f["model_weights/dense"]}.get(target, f)
        del holder.attrs[target]
        if data.draw(st.booleans()):
            holder.attrs[target] = data.draw(st.sampled_from(ATTR_VALUES))
    ref = mk.valid_input(d)
    for argv in (["inspect", model], ["dump", model, ref, "-o", d / "o.npz"]):
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code in (0, 2, 3) and "Traceback" not in err, err
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err


def _limits():
    """In the child before exec: at most 2 GiB of address space, so a runaway allocation fails instead of
    exhausting the machine (libhdf5 may crash on corrupt bytes; the child absorbs that)."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))


@settings(derandomize=True, max_examples=24, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0.05, 1.0)), command=st.sampled_from(["inspect", "dump"]))
def test_byte_mutations_in_a_child(flips, cut, command, tmp_path_factory):
    """Bit flips and truncation of a valid file, parsed by `python -m kstep` in a child with a timeout and a memory
    limit: exit 0/2/3 (2 with exactly one stderr line), never a Python traceback; a child killed by a signal is
    libhdf5 crashing on corrupt bytes, outside Python's reach."""
    d = tmp_path_factory.mktemp("bytes")
    data = bytearray(mk.valid_model(d).read_bytes())
    for where, bit in flips:
        i = min(int(where * len(data)), len(data) - 1)
        data[i] ^= 1 << bit
    if cut is not None:
        data = data[: int(cut * len(data))]
    bad = d / "bad.h5"
    bad.write_bytes(bytes(data))
    ref = mk.valid_input(d)
    argv = ["inspect", str(bad)] if command == "inspect" else ["dump", str(bad), str(ref), "-o", str(d / "o.npz")]
    r = subprocess.run([sys.executable, "-m", "kstep", *argv], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, preexec_fn=_limits)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 2, 3) or r.returncode < 0, (r.returncode, r.stderr)
    if r.returncode == 2:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert bad.read_bytes() == bytes(data)
