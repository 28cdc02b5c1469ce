"""Provides the comparison's options, parsed once at the edge: `CompareOptions` (frozen) and its defaults.

`kstep report` and the debugger `kstep OLD NEW REF` take the same options; `add_compare_options` declares them on
an argparse parser, `CompareOptions.from_args` checks them (a malformed one is a UsageError, exit 2) and returns
the frozen value the comparison reads. The tolerance defaults are written here and only here. `report_command` is
the command a report records. Light on purpose: no numpy, no engine (the app checks its arguments before it opens).
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from kstep.errors import UsageError

if TYPE_CHECKING:
    from kstep.compare.preprocess import Transform

DEFAULT_RTOL = 1e-4
"""Relative tolerance unless --rtol: |new - old| <= atol + rtol·|old|."""
MIN_ATOL = 1e-5
"""The smallest default atol; also the atol shown before the float64 runs have measured any noise."""
NOISE_FACTOR = 10.0
"""Default atol = max(MIN_ATOL, NOISE_FACTOR x the layer's measured float32-vs-float64 noise)."""
DEFAULT_MAX_MEMORY = 2 * 2**30
"""Bytes the comparison may hold (both models' weights and live activations) unless --max-memory."""
SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6,
              "g": 2**30, "gib": 2**30, "gb": 10**9}
"""--max-memory's units, lower-cased: decimal KB/MB/GB, binary KiB/MiB/GiB and bare K/M/G."""
DEBUG_HELP = "on kstep's own failure (exit 4), print the traceback (also: KSTEP_DEBUG=1)"
"""The help of `--debug`, the global flag every command and the app accept (kstep.cli reads it before parsing)."""


def tol_text(x: float) -> str:
    """A tolerance as help texts and labels write it, the shorter of plain and scientific: 1e-05 -> '1e-5',
    0.0001 -> '1e-4', 10.0 -> '10', 0.5 -> '0.5'."""
    mantissa, _, exponent = f"{x:e}".partition("e")
    scientific = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    plain = f"{x:g}"
    return scientific if "e" in plain or len(scientific) < len(plain) else plain


def _empty() -> Mapping:
    """A fresh read-only empty mapping (a frozen dataclass's default)."""
    return MappingProxyType({})


@dataclass(frozen=True)
class CompareOptions:
    """What `kstep report` / the app were asked for, besides the files.

    atol: None = the default rule (MIN_ATOL widened by the measured noise). per_layer: LAYER -> (atol, rtol).
    forced: OLDNAME -> NEWNAME pairs (--map). pre_old/pre_new: input transforms. noise: run the float64 twins.
    assume_old/assume_new: --assume overrides per side. weights_old/weights_new: weights of an architecture .json.
    samples: the reference samples compared, a Python slice (A, B) of the sample axis (None = all; --samples).
    max_memory: the comparison's memory budget in bytes (--max-memory). outputs_only: judge each layer by what it
    computes, not by how its weights are stored, and let layers present in NEW only wait for the next aligned row to
    agree (`kstep convert`'s check: OUT may spell a layer as several standard ones).
    more_refs: further REF paths after the first (image files: the batch's further samples).
    resize: (H, W) every image REF is resized to, nearest-neighbour (--resize HxW); None: images are not resized.
    """

    atol: float | None = None
    rtol: float = DEFAULT_RTOL
    per_layer: Mapping[str, tuple[float, float]] = field(default_factory=_empty)
    forced: Mapping[str, str] = field(default_factory=_empty)
    pre_old: tuple[Transform, ...] = ()
    pre_new: tuple[Transform, ...] = ()
    noise: bool = True
    assume_old: Mapping[str, str] = field(default_factory=_empty)
    assume_new: Mapping[str, str] = field(default_factory=_empty)
    weights_old: str | None = None
    weights_new: str | None = None
    samples: tuple[int | None, int | None] | None = None
    max_memory: int = DEFAULT_MAX_MEMORY
    outputs_only: bool = False
    more_refs: tuple[str, ...] = ()
    resize: tuple[int, int] | None = None

    def with_tolerance(self, atol: float | None, rtol: float) -> CompareOptions:
        """The same options under another global tolerance (the debugger's `t`)."""
        return replace(self, atol=atol, rtol=rtol)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CompareOptions:
        """The parsed command line (see add_compare_options) checked and frozen; UsageError when malformed."""
        from kstep.compare.preprocess import parse  # numpy: imported only once the arguments are checked

        per_layer = {}
        for layer, spec in pairs(args.tolerance, "--tolerance").items():
            try:
                atol, rtol = (float(v) for v in spec.split(","))
            except ValueError:
                raise UsageError(f"--tolerance {layer}={spec}: expected ATOL,RTOL") from None
            if not (_tolerance_ok(atol) and _tolerance_ok(rtol)):
                raise UsageError(f"--tolerance {layer}={spec}: ATOL and RTOL must be finite numbers >= 0")
            per_layer[layer] = (atol, rtol)
        for flag, value in (("--atol", args.atol), ("--rtol", args.rtol)):
            if value is not None and not _tolerance_ok(value):
                raise UsageError(f"{flag} {value}: must be a finite number >= 0")
        assume = parse_assume(args.assume, ("old", "new"))
        return cls(atol=args.atol, rtol=args.rtol, per_layer=MappingProxyType(per_layer),
                   forced=MappingProxyType(pairs(args.map, "--map")),
                   pre_old=tuple(parse(x) for x in args.pre_old), pre_new=tuple(parse(x) for x in args.pre_new),
                   noise=not args.no_noise, assume_old=MappingProxyType(assume["old"]),
                   assume_new=MappingProxyType(assume["new"]), weights_old=args.weights_old,
                   weights_new=args.weights_new,
                   samples=None if args.samples is None else parse_samples(args.samples),
                   max_memory=DEFAULT_MAX_MEMORY if args.max_memory is None else parse_size(args.max_memory),
                   more_refs=tuple(args.more_refs),
                   resize=None if args.resize is None else parse_resize(args.resize))


def parse_samples(text: str) -> tuple[int | None, int | None]:
    """--samples: 'A:B', 'A:', ':B' (a Python slice of the sample axis, negative from the end) -> (A, B) with None
    for an open end; a single index 'K' -> (K, K + 1), the last sample '-1' -> (-1, None). UsageError otherwise."""
    def bound(part: str) -> int | None:
        return int(part) if part.strip() else None

    try:
        if ":" in text:
            a, b = text.split(":")
            return bound(a), bound(b)
        k = int(text)
    except ValueError:
        raise UsageError(f"--samples {text!r}: expected A:B, A:, :B or K (sample indices, Python slice; "
                         "write --samples=-K: for a negative start)") from None
    return k, (None if k == -1 else k + 1)


MAX_SIDE = 65_535
"""The largest side --resize accepts, in pixels (PNG's and JPEG's own limits are 2**31 - 1 and 65,535)."""


def parse_resize(text: str) -> tuple[int, int]:
    """--resize: 'HxW' (height by width in pixels, e.g. 224x224) -> (H, W); UsageError unless both are whole
    numbers in 1..MAX_SIDE."""
    h, sep, w = text.strip().lower().partition("x")
    if not (sep and h.strip().isdigit() and w.strip().isdigit() and 1 <= int(h) <= MAX_SIDE
            and 1 <= int(w) <= MAX_SIDE):
        raise UsageError(f"--resize {text!r}: expected HxW, height by width in pixels (1..{MAX_SIDE}), e.g. 224x224")
    return int(h), int(w)


_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d{1,3}))?\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """--max-memory: '2GiB', '512MiB', '1.5G', '800M', '100000000' -> bytes (K/M/G and KiB/MiB/GiB = 2**10..,
    KB/MB/GB = 10**3.., any case). UsageError for a malformed, zero, negative or non-finite size."""
    match = _SIZE.fullmatch(text)
    unit = SIZE_UNITS.get(match.group(3).lower()) if match else None
    if match is None or unit is None:
        raise UsageError(f"--max-memory {text!r}: expected a size such as 2GiB, 512MiB, 1.5G, 800M or a number "
                         "of bytes")
    size = float(match.group(1) + ("e" + match.group(2) if match.group(2) else "")) * unit
    if not 1 <= size < 2**62:
        raise UsageError(f"--max-memory {text!r}: must be at least one byte and below 4 EiB")
    return int(size)


def _tolerance_ok(x: float) -> bool:
    """A usable tolerance: finite and not negative (inf would make every pair agree; NaN compares false)."""
    return math.isfinite(x) and x >= 0


def add_compare_options(p: argparse.ArgumentParser) -> None:
    """The arguments `kstep report` and the app `kstep OLD NEW REF` share."""
    p.add_argument("old", metavar="OLD", help="the reference model file (e.g. saved by Keras 1.2.2)")
    p.add_argument("new", metavar="NEW", help="the migrated model file")
    p.add_argument("ref", metavar="REF", help="reference input: .npy, .npz keyed by input name, or an image "
                                              "(PNG, JPEG, ...: needs pip install 'kstep[images]')")
    p.add_argument("more_refs", metavar="IMAGE", nargs="*",
                   help="more images, one sample each (or give REF as one directory: its images in name order)")
    p.add_argument("--atol", type=float, help=f"absolute tolerance, finite and >= 0 (default: "
                                              f"max({tol_text(MIN_ATOL)}, {tol_text(NOISE_FACTOR)}x each layer's "
                                              "float32 noise measured by a float64 re-run))")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                   help=f"relative tolerance (default {tol_text(DEFAULT_RTOL)})")
    p.add_argument("--tolerance", action="append", default=[], metavar="LAYER=ATOL,RTOL",
                   help="per-layer tolerance (repeatable)")
    p.add_argument("--map", action="append", default=[], metavar="OLDNAME=NEWNAME",
                   help="force a layer pair (repeatable)")
    p.add_argument("--ref-new", metavar="REF2", help="a separately preprocessed input for NEW")
    p.add_argument("--pre-old", action="append", default=[], metavar="EXPR",
                   help="transform OLD's input (repeatable, in order): caffe, tf, torch (keras preprocess_input "
                        "modes), undo:PRESET, scale:1/255, bgr, transpose:0,3,1,2, mean:M[,M..], std:S[,S..]")
    p.add_argument("--pre-new", action="append", default=[], metavar="EXPR", help="transform NEW's input (same set)")
    p.add_argument("--weights-old", metavar="W.h5", help="weights for an OLD architecture .json")
    p.add_argument("--weights-new", metavar="W.h5", help="weights for a NEW architecture .json")
    p.add_argument("--assume", action="append", default=[], metavar="old.KEY=VALUE|new.KEY=VALUE",
                   help="override a fact kstep assumed about OLD or NEW (repeatable)")
    p.add_argument("--no-noise", action="store_true",
                   help=f"skip the float64 re-run (atol then {tol_text(MIN_ATOL)} unless --atol)")
    p.add_argument("--samples", metavar="A:B",
                   help="compare reference samples A:B only (Python slice of REF's first axis: A:B, A:, :B, or one "
                        "index K; negative from the end, written --samples=-8:)")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="memory budget of the comparison: weights and live activations, e.g. 512MiB, 1.5G, 800MB "
                        "(default 2GiB)")
    p.add_argument("--resize", metavar="HxW",
                   help="resize image REFs to H x W pixels, nearest-neighbour (default: an image must already have "
                        "the model's input size)")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)


def parse_assume(items: list[str], prefixes: tuple[str, ...] = ()) -> dict:
    """['backend=theano'] -> {'backend': 'theano'}; with prefixes ('old', 'new') -> {'old': {...}, 'new': {...}}."""
    out: dict = {p: {} for p in prefixes} if prefixes else {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--assume {item!r}: expected KEY=VALUE")
        if prefixes:
            side, dot, rest = key.partition(".")
            if side not in prefixes or not rest:
                raise UsageError(f"--assume {item!r}: expected {' or '.join(p + '.KEY' for p in prefixes)}=VALUE")
            out[side][rest] = value
        else:
            out[key] = value
    return out


def pairs(items: list[str], flag: str) -> dict[str, str]:
    """['a=b', ...] -> {'a': 'b'}; UsageError naming `flag` when an item is not A=B."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{flag} {item!r}: expected A=B")
        out[key] = value
    return out


OUTPUT_FLAGS = ("-o", "--output", "--format")


def report_command(argv: list[str]) -> list[str]:
    """The command that reproduces a comparison, as the report records it: `kstep report OLD NEW REF [options]`
    without -o/--format, so the app's export and `kstep report` write the same bytes."""
    out, skip = [], False
    for item in argv[1:] if argv and argv[0] == "report" else argv:
        if skip:
            skip = False
            continue
        if item in OUTPUT_FLAGS:
            skip = True
            continue
        if any(item.startswith(flag + "=") for flag in OUTPUT_FLAGS if flag.startswith("--")):
            continue
        out.append(item)
    return ["kstep", "report"] + out
