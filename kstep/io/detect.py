"""Provides `detect`: which Keras wrote a file (a `Generation`) and with which backend (a `Backend`), as `Semantics`.

Rules (../shared/docs/keras-formats.md §1.1): a missing `keras_version` means Keras 1; `2.x-tf` and 2.4+ are
tf.keras; 2.0-2.3 standalone Keras 2; 3.x Keras 3. Keras 1 never writes `backend`: weight names ending in `:0` mean
TensorFlow, names without it mean Theano; only a file without weight names falls back to a default (Theano, the
Keras 1 backend kstep is built for). Every decision comes with its evidence; what was assumed or overridden with
`--assume` is also a `Fact`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kstep.errors import BadInput
from kstep.ir import Fact, Source
from kstep.semantics import BACKENDS, Backend, Generation, Semantics, version_tuple

MAX_VERSION_CHARS = 64  # '2.2.4-tf', '3.10.0.dev2024...': real versions are short


@dataclass
class Detection:
    """What detection decided (`semantics`), the evidence lines `inspect` shows, and the facts it assumed."""

    semantics: Semantics
    evidence: list[str]
    facts: list[Fact]


def generation_of(version: str) -> Generation:
    """'1.2.2' -> keras1, '2.2.4' -> keras2, '2.2.4-tf' / '2.8.0' -> tf.keras, '3.10.0' -> keras3."""
    v = version_tuple(version)
    if v[0] <= 1:
        return Generation.KERAS1
    if v[0] >= 3:
        return Generation.KERAS3
    if version.endswith("-tf") or v >= (2, 4, 0):
        return Generation.TF_KERAS
    return Generation.KERAS2


def detect(
    stored_version: str | None,
    stored_backend: str | None,
    weight_names: list[str],
    assume: dict[str, str],
    version_where: str = "root attribute keras_version",
    path: str | None = None,
) -> Detection:
    """Decide generation, version and backend; `assume` holds `--assume` overrides (keys: backend, keras_version).
    An absurd version or backend (a million digits, a huge string) is a BadInput naming `path`."""
    evidence: list[str] = []
    facts: list[Fact] = []
    if "keras_version" in assume:
        _check_version(assume["keras_version"], "--assume keras_version", None)
    elif stored_version:
        _check_version(stored_version, version_where, path)

    if "keras_version" in assume:
        version = assume["keras_version"]
        facts.append(Fact("keras_version", version, Source.OVERRIDE, "--assume keras_version"))
        evidence.append(f"keras_version {version} (--assume)")
    elif stored_version:
        version = stored_version
        evidence.append(f"{version_where} = {stored_version!r}")
    else:
        version = "1"
        facts.append(Fact("keras_version", "1", Source.ASSUMED,
                          "no keras_version attribute: Keras 1 files (and Keras's own loaders) imply version 1"))
        evidence.append("no keras_version attribute: assumed Keras 1")
    generation = generation_of(version)
    evidence.append(f"generation {generation} from version {version}")

    backend: str
    if "backend" in assume:
        backend = assume["backend"]
        facts.append(Fact("backend", backend, Source.OVERRIDE, "--assume backend"))
    elif stored_backend:
        backend = stored_backend
        evidence.append(f"backend attribute = {stored_backend!r}")
    else:
        backend, why, source = _infer_backend(generation, weight_names)
        facts.append(Fact("backend", backend, source, why))
        evidence.append(f"backend {backend}: {why}")
    if backend not in BACKENDS:
        shown = repr(backend) if len(backend) <= MAX_VERSION_CHARS else f"{backend[:MAX_VERSION_CHARS]!r}... " \
            f"({len(backend)} characters)"
        raise BadInput(f"unknown backend {shown} (known: {', '.join(BACKENDS)})",
                       path=None if "backend" in assume else path)
    return Detection(Semantics(generation, version, Backend(backend)), evidence, facts)


def _check_version(version: str, where: str, path: str | None) -> None:
    """Refuse a version no Keras wrote: longer than MAX_VERSION_CHARS, or with a number of 19 digits or more
    (nightlies carry 10-digit dates, '3.4.0.dev2024061103'; a million digits would stop int() with a ValueError)."""
    if len(version) > MAX_VERSION_CHARS or re.search(r"\d{19}", version):
        shown = version if len(version) <= 40 else version[:40] + "..."
        raise BadInput(f"{where} {shown!r} ({len(version)} characters) is not a Keras version", path=path)


def _infer_backend(generation: Generation, weight_names: list[str]) -> tuple[Backend, str, Source]:
    """The backend a file without a `backend` attribute ran on, why kstep thinks so, and how sure that is."""
    if generation is Generation.TF_KERAS:
        return Backend.TENSORFLOW, "tf.keras always runs on TensorFlow", Source.VERSION_DEFAULT
    if generation is Generation.KERAS3:
        return (Backend.TENSORFLOW, "no backend attribute; every Keras 3 backend computes the same maths here",
                Source.ASSUMED)
    if weight_names:
        with_colon = sum(1 for n in weight_names if n.endswith(":0") or _has_tf_suffix(n))
        if with_colon == len(weight_names):
            return (Backend.TENSORFLOW,
                    f"all {len(weight_names)} weight names end in ':0' (TensorFlow variable names)", Source.ASSUMED)
        if with_colon == 0:
            return (Backend.THEANO, f"none of the {len(weight_names)} weight names ends in ':0' (Theano names)",
                    Source.ASSUMED)
        return (Backend.TENSORFLOW,
                f"{with_colon} of {len(weight_names)} weight names end in ':0'; mixed, took TensorFlow",
                Source.ASSUMED)
    return (Backend.THEANO, "no weight names to tell; assumed Theano, the backend of the Keras 1 models kstep is "
            "built for (Keras >= 1.1.0 defaulted to TensorFlow: --assume backend=tensorflow)", Source.ASSUMED)


def _has_tf_suffix(name: str) -> bool:
    head, sep, tail = name.rpartition(":")
    return bool(sep) and tail.isdigit()
