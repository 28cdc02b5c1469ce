"""Hostile and broken inputs: every command gives exactly one line on stderr naming the file and the problem, exit 2,
no traceback, within a few seconds, without allocating memory in proportion to a number in the file, and the input
files are byte-identical afterwards. Files are generated at test time (tests/hostile/make_hostile.py).

Commands run in-process through `kstep.cli.main` (capsys); `test_one_subprocess_smoke_per_command` runs the real
process once per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from kstep.cli import main
from tests.hostile import make_hostile as mk

TIME_LIMIT = 5.0  # seconds per command on a hostile file
MEMORY_LIMIT = 64 * 2**20  # peak Python/numpy allocation while refusing a hostile file


# --- HOOK: the commands every hostile file goes through ----------------------------------------------------------
# One entry per command that reads model files: (model, weights or None, ref, out) -> argv. Add a command here when
# it lands; every test below then runs it too. The app (`kstep OLD NEW REF`) prints the report when stdout is not a
# terminal, as under capsys.

def _inspect(model, weights, ref, out):
    return ["inspect", model] + (["--weights", weights] if weights else [])


def _dump(model, weights, ref, out):
    return ["dump", model, ref, "-o", out] + (["--weights", weights] if weights else [])


def _report(model, weights, ref, out):
    return ["report", model, model, ref] + (["--weights-old", weights, "--weights-new", weights] if weights else [])


def _app(model, weights, ref, out):
    return [model, model, ref] + (["--weights-old", weights, "--weights-new", weights] if weights else [])


COMMANDS = {"inspect": _inspect, "dump": _dump, "report": _report, "app": _app}
WITH_REF = [name for name in COMMANDS if name != "inspect"]  # the commands that read a reference input
WRITES_O = {"dump": True, "report": True}  # commands with -o; report's -o is optional
# ---------------------------------------------------------------------------------------------------------------


def _snapshot(paths) -> dict:
    """The bytes of every regular file among `paths` (FIFOs, devices, missing paths and None are skipped)."""
    return {Path(p): Path(p).read_bytes() for p in paths if p is not None and Path(p).is_file()}


def run(argv, capsys, inputs=()):
    """main(argv) in-process -> (code, stdout, stderr lines, seconds, peak bytes); asserts inputs are untouched."""
    before = _snapshot(inputs)
    tracemalloc.start()
    start = time.monotonic()
    try:
        code = main([str(a) for a in argv])
    finally:
        seconds = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    captured = capsys.readouterr()
    assert _snapshot(inputs) == before, "an input file changed"
    return code, captured.out, [line for line in captured.err.splitlines() if line.strip()], seconds, peak


def check_refused(argv, capsys, inputs, needle: str, blame: Path | None, code: int = 2) -> str:
    """Exactly one stderr line, naming `blame` and containing `needle`; exit `code`; fast; little memory."""
    got, _, err, seconds, peak = run(argv, capsys, inputs)
    assert got == code, err
    assert len(err) == 1, err
    line = err[0]
    assert "Traceback" not in line
    assert needle in line, line
    if blame is not None:
        assert line.startswith(str(blame)) or f" {blame}" in line, line
    assert seconds < TIME_LIMIT, f"{seconds:.1f} s"
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB allocated"
    return line


# --- bad model files: every command says one line, exit 2 ---------------------------------------------------------

@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(mk.BAD_MODELS))
def test_bad_model(case, command, tmp_path, capsys):
    c = mk.BAD_MODELS[case](tmp_path)
    ref = mk.valid_input(tmp_path)
    out = tmp_path / "out.npz"
    argv = COMMANDS[command](c.model, c.weights, ref, out)
    check_refused(argv, capsys, [c.model, c.weights, ref], c.needle, c.blamed)
    assert not out.exists()


# --- bad reference inputs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", WITH_REF)
@pytest.mark.parametrize("case", list(mk.BAD_REFS))
def test_bad_reference(case, command, tmp_path, capsys):
    model = mk.valid_model(tmp_path)
    c = mk.BAD_REFS[case](tmp_path)
    check_refused(COMMANDS[command](model, None, c.ref, tmp_path / "out.npz"), capsys, [model, c.ref], c.needle,
                  c.blamed)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("command", WITH_REF)
def test_nan_and_inf_reference_is_a_warning_not_an_error(command, tmp_path, capsys):
    model = mk.valid_model(tmp_path)
    ref = tmp_path / "nan.npy"
    x = np.zeros((2, 4), np.float32)
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    np.save(ref, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would print two more lines on stderr
        code, out, err, _, _ = run(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref])
    assert code == 0, err
    # the app (piped) puts its warnings in the report it prints; the commands print them on stderr
    lines = out.splitlines() if command == "app" else err
    assert any("warning" in line and "NaN" in line for line in lines), (out, err)
    assert not any("Traceback" in line for line in err)


# --- special files and permissions ---------------------------------------------------------------------------------

def _deny(monkeypatch, target: Path, where: str):
    """Simulate an unreadable file (CI runs as root, so chmod 000 would not stop it)."""
    if where == "open":
        real = open

        def deny(path, *a, **k):
            if str(path) == str(target):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *a, **k)

        monkeypatch.setattr("builtins.open", deny)
    else:
        real_stat = os.stat

        def deny_stat(path, *a, **k):
            if str(path) == str(target):
                raise PermissionError(13, "Permission denied", str(path))
            return real_stat(path, *a, **k)

        monkeypatch.setattr(os, "stat", deny_stat)


@pytest.mark.parametrize("where", ["open", "stat"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_unreadable_model(command, where, tmp_path, capsys, monkeypatch):
    model = mk.valid_model(tmp_path)
    ref = mk.valid_input(tmp_path)
    _deny(monkeypatch, model, where)
    check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [ref], "Permission denied", model)


@pytest.mark.parametrize("where", ["open", "stat"])
@pytest.mark.parametrize("command", WITH_REF)
def test_unreadable_reference(command, where, tmp_path, capsys, monkeypatch):
    model = mk.valid_model(tmp_path)
    ref = mk.valid_input(tmp_path)
    _deny(monkeypatch, ref, where)
    check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model], "Permission denied", ref)


def test_external_link_to_a_fifo_is_never_opened(tmp_path):
    """If the reader followed the link, opening the FIFO would block: run it in a child with a timeout."""
    target = mk.fifo(tmp_path, "target.h5")
    import h5py

    model = mk.write_model(tmp_path / "fifolink.h5", mk.model_config())
    with h5py.File(model, "a") as f:
        del f["model_weights/dense"]
        f["model_weights"]["dense"] = h5py.ExternalLink(str(target), "/model_weights/dense")
    r = subprocess.run([sys.executable, "-m", "kstep", "inspect", str(model)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "external link" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# --- outputs never replace inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("which", ["model", "ref", "weights"])
@pytest.mark.parametrize("command", list(WRITES_O))
def test_output_never_replaces_an_input(how, which, command, tmp_path, capsys):
    if which == "weights":
        model, weights = mk.valid_arch_and_weights(tmp_path)
    else:
        model, weights = mk.valid_model(tmp_path), None
    ref = mk.valid_input(tmp_path)
    victim = {"model": model, "ref": ref, "weights": weights}[which]
    target = tmp_path / "alias.out"
    if how == "same":
        target = victim
    elif how == "symlink":
        target.symlink_to(victim)
    else:
        os.link(victim, target)
    argv = COMMANDS[command](model, weights, ref, target)
    if command == "report":
        argv += ["-o", target]
    check_refused(argv, capsys, [model, ref, weights], "refusing to overwrite", None)


@pytest.mark.parametrize("command", ["dump", "report"])
@pytest.mark.parametrize("where", ["directory", "missing_dir"])
def test_output_path_that_cannot_be_written(where, command, tmp_path, capsys):
    model, ref = mk.valid_model(tmp_path), mk.valid_input(tmp_path)
    out = tmp_path / "adir" if where == "directory" else tmp_path / "no" / "such" / "o.npz"
    if where == "directory":
        out.mkdir()
    argv = COMMANDS[command](model, None, ref, out)
    if command == "report":
        argv += ["-o", out]
    check_refused(argv, capsys, [model, ref], "cannot write", out)


# --- code in files is never executed; names are never markup ------------------------------------------------------

def test_lambda_code_is_never_executed(tmp_path, capsys):
    """A Keras 1 Lambda whose marshalled code would create a file: inspect shows it, dump stops there (exit 3)."""
    marker = tmp_path / "pwned"
    model = mk.lambda_model(tmp_path, marker)
    ref = mk.valid_input(tmp_path)
    inputs = [model, ref]
    code, out, _, _, _ = run(COMMANDS["inspect"](model, None, ref, None), capsys, inputs)
    assert code == 0 and "lam" in out and "never executed" in out
    code, out, _, _, _ = run(["inspect", model, "--json"], capsys, inputs)
    assert code == 0 and "never executed" in out
    code, _, err, _, _ = run(COMMANDS["dump"](model, None, ref, tmp_path / "o.npz"), capsys, inputs)
    assert code == 3 and len(err) == 1 and "'lam'" in err[0] and "unsupported" in err[0], err
    assert set(np.load(tmp_path / "o.npz").files) == {"dense"}
    for command in WITH_REF:
        if command != "dump":
            assert run(COMMANDS[command](model, None, ref, None), capsys, inputs)[0] == 3
    assert not marker.exists()


def test_names_are_shown_literally(tmp_path, capsys):
    """Rich markup, an OSC 52 clipboard write, a screen clear and a CR in a layer name show literally, with the
    control characters made visible in text and escaped in JSON."""
    model = mk.hostile_names(tmp_path)
    ref = mk.valid_input(tmp_path)
    visible = "[bold red]X[/] \\x1b]52;c;aGk=\\x07 \\x1b[2J\\x0d"
    code, out, _, _, _ = run(["inspect", model], capsys, [model])
    assert code == 0 and visible in out
    assert not any(ch in out for ch in "\x1b\x07\r")
    code, out, _, _, _ = run(["inspect", model, "--json"], capsys, [model])
    assert code == 0 and "\x1b" not in out and "\\u001b]52" in out
    assert json.loads(out)["model"]["layers"][0]["name"] == mk.EVIL
    for command in WITH_REF:
        code, out, err, _, _ = run(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref])
        assert code == 0, err
        assert not any(ch in out + "".join(err) for ch in "\x1b\x07\r")
    for fmt in ("md", "html", "json"):
        code, out, _, _, _ = run(["report", model, model, ref, "--format", fmt], capsys, [model, ref])
        assert code == 0 and "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_names_in_error_lines(command, tmp_path, capsys):
    """A refused file whose message quotes a hostile layer name: the one line shows it with escapes visible."""
    model = mk.hostile_names(tmp_path, with_weights=False)
    ref = mk.valid_input(tmp_path)
    line = check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref],
                         "\\x1b]52;c;aGk=\\x07", model)
    assert not any(ch in line for ch in "\x1b\x07\r")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_file_name(command, tmp_path, capsys):
    model = tmp_path / "evil\x1b[2J\x07.h5"
    model.write_bytes(b"\x00" * 64)
    ref = mk.valid_input(tmp_path)
    _, _, err, _, _ = run(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref])
    assert len(err) == 1 and "evil\\x1b[2J\\x07.h5" in err[0] and "\x1b" not in err[0]


def test_unknown_layer_class(tmp_path, capsys):
    """inspect lists an unknown class as unsupported (exit 0); dump and report stop there with exit 3."""
    model = mk.unknown_class(tmp_path)
    ref = mk.valid_input(tmp_path)
    inputs = [model, ref]
    code, out, err, _, _ = run(["inspect", model], capsys, inputs)
    assert code == 0 and not err
    assert "MyCustomLayer" in out and "UNSUPPORTED" in out and "unsupported layers" in out
    code, out, _, _, _ = run(["inspect", model, "--json"], capsys, inputs)
    assert code == 0 and [u["name"] for u in json.loads(out)["unsupported"]] == ["reshape"]
    code, _, err, _, _ = run(COMMANDS["dump"](model, None, ref, tmp_path / "o.npz"), capsys, inputs)
    assert code == 3 and len(err) == 1 and "'reshape'" in err[0] and "MyCustomLayer" in err[0], err
    assert set(np.load(tmp_path / "o.npz").files) == {"dense"}
    for command in WITH_REF:
        if command != "dump":
            assert run(COMMANDS[command](model, None, ref, None), capsys, inputs)[0] == 3


def test_valid_files_pass_every_command_unchanged(tmp_path, capsys):
    """The generator's valid files work (so every refusal above is about the hostile part), inputs untouched."""
    ref = mk.valid_input(tmp_path)
    arch, weights = mk.valid_arch_and_weights(tmp_path)
    for model, w in ((mk.valid_model(tmp_path), None), (arch, weights)):
        for command, make in COMMANDS.items():
            code, _, err, _, _ = run(make(model, w, ref, tmp_path / "o.npz"), capsys, [model, w, ref])
            assert code == 0, (command, err)


def test_one_subprocess_smoke_per_command(tmp_path):
    """The real process: a hostile file gives one stderr line, exit 2, no traceback."""
    bad = tmp_path / "random.h5"
    bad.write_bytes(np.random.default_rng(3).bytes(2048))
    ref = mk.valid_input(tmp_path)
    for command, make in COMMANDS.items():
        argv = make(bad, None, ref, tmp_path / "o.npz")
        r = subprocess.run([sys.executable, "-m", "kstep", *map(str, argv)], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 2, (command, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, (command, r.stderr)
        assert str(bad) in r.stderr


# --- invisible and unencodable names; names that look like dump keys ---------------------------------------------

RAW = set(mk.INVISIBLE) | {"\udcfd", "\udcfe", "\udcff"}  # none of these may reach a terminal or a report raw


def _raw_in(text: str) -> set[str]:
    return {ch for ch in text if ch in RAW}


def test_invisible_names_are_escaped_everywhere(tmp_path, capsys):
    """Bidi overrides/isolates, zero-width characters, the BOM, NUL and lone surrogates (from JSON \\u escapes) in
    layer, weight, input and model names: every command exits 0 and shows them as visible escapes (capsys encodes
    strictly, as a UTF-8 terminal does: a raw surrogate would crash the write); JSON escapes them and keeps the
    exact names; dump keeps the keys as the names are except NUL and surrogates, which a .npz key cannot hold."""
    model = mk.invisible_names(tmp_path)
    ref = mk.valid_input(tmp_path)
    code, out, err, _, _ = run(["inspect", model], capsys, [model])
    assert code == 0 and not err and not _raw_in(out), _raw_in(out)
    assert "adm\\u202enimi\\u202a" in out and "r\\x00s\\udcffz" in out and "x\\udcfe\\u2067" in out
    assert "m\\udcfd\\u202e" in out and "weight adm\\u202e" in out
    code, out, err, _, _ = run(["inspect", model, "--json"], capsys, [model])
    assert code == 0 and not err and not _raw_in(out) and "\\u202e" in out and "\\udcff" in out
    doc = json.loads(out)
    assert [layer["name"] for layer in doc["model"]["layers"]] == [mk.BIDI, mk.NUL_SURROGATE, "flatten"]
    assert doc["model"]["name"] == "m\udcfd\u202e"
    code, out, err, _, _ = run(COMMANDS["dump"](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref])
    assert code == 0 and not _raw_in("".join(err)) and len(err) == 1 and "r\\x00s\\udcffz" in err[0], err
    assert np.load(tmp_path / "o.npz").files == [mk.BIDI, "r\\x00s\\udcffz", "flatten"]
    for command in ("report", "app"):
        code, out, err, _, _ = run(COMMANDS[command](model, None, ref, None), capsys, [model, ref])
        assert code == 0 and not err and not _raw_in(out) and "r\\\\x00s\\\\udcffz" in out, out
    for fmt in ("md", "html", "json"):
        target = tmp_path / f"r.{fmt}"
        code, out, err, _, _ = run(["report", model, model, ref, "-o", target], capsys, [model, ref])
        text = target.read_text("utf-8")
        assert code == 0 and not err and not _raw_in(text) and "\\udcff" in text
        if fmt == "json":
            assert {row["old"]["name"] for row in json.loads(text)["layers"]} >= {mk.BIDI, mk.NUL_SURROGATE}


def test_lone_surrogate_in_an_error_line(tmp_path, capsys):
    """A refused file whose message quotes a name holding a lone surrogate: one line, the escape shown."""
    layers = mk._layers()
    layers[1]["name"] = layers[1]["config"]["name"] = "d\udcff"
    layers[2]["inbound_nodes"] = [[["d\udcff", 0, 0, {}]]]
    model = mk.write_model(tmp_path / "sur.h5", mk.model_config(layers), {}, ["x", "reshape", "flatten"])
    ref = mk.valid_input(tmp_path)
    for command in COMMANDS:
        check_refused(COMMANDS[command](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref], "d\\udcff",
                      model)


@pytest.mark.parametrize("case, first, second, key", [
    ("at", "layer 'act' call 1", "layer 'act@1'", "act@1"),
    ("slash", "layer 'inner' of nested model 'outer'", "layer 'outer/inner'", "outer/inner"),
    ("colon", "layer 'pair' output 1", "layer 'pair:1'", "pair:1")])
def test_dump_key_collision_is_refused(case, first, second, key, tmp_path, capsys):
    """A layer named like another layer's dump key (act@1, OUTER/INNER, NAME:i): dump exits 2 naming both layers
    and writes nothing (no array silently overwritten); inspect and report, which keep both, still exit 0."""
    model = mk.key_model(tmp_path, case)
    ref = mk.valid_input(tmp_path)
    out = tmp_path / "o.npz"
    line = check_refused(COMMANDS["dump"](model, None, ref, out), capsys, [model, ref], f"'{key}'", model)
    assert first in line and second in line, line
    assert not out.exists()
    for command in ("inspect", "report"):
        code, _, err, _, _ = run(COMMANDS[command](model, None, ref, None), capsys, [model, ref])
        assert code == 0, err


def test_dump_keeps_names_that_only_look_like_keys(tmp_path, capsys):
    """`act@1` beside a once-called `act`, and layers named after np.savez's own keywords (`file`, `allow_pickle`,
    which savez took as its arguments: a traceback, or an array silently dropped): every array saved, unescaped."""
    ref = mk.valid_input(tmp_path)
    x = np.load(ref)
    for case, names in (("at_alone", ["act", "act@1"]), ("savez", ["file", "allow_pickle"])):
        model = mk.key_model(tmp_path, case)
        code, _, err, _, _ = run(COMMANDS["dump"](model, None, ref, tmp_path / "o.npz"), capsys, [model, ref])
        assert code == 0 and not err, err
        got = np.load(tmp_path / "o.npz")
        assert got.files == ["dense"] + names
        np.testing.assert_allclose(got[names[0]], np.tanh(got["dense"]), rtol=1e-6)
        np.testing.assert_allclose(got[names[1]], np.tanh(got[names[0]]), rtol=1e-6)
        assert got["dense"].shape == (x.shape[0], mk.DENSE_OUT)
