"""Provides generation and backend detection: which Keras wrote a file, and with which backend.

Rules (../shared/docs/keras-formats.md §1.1): a missing `keras_version` means Keras 1; `2.x-tf` and 2.4+ are
tf.keras; 2.0-2.3 standalone Keras 2; 3.x Keras 3. Keras 1 never writes `backend`: weight names ending in `:0` mean
TensorFlow, names without it mean Theano; only a file without weight names falls back to a default (Theano, the
Keras 1 backend kstep is built for). Every decision is returned with its evidence and as a `Fact`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.ir import Fact, Source
from kstep.semantics import BACKENDS, GENERATIONS, Semantics, version_tuple


@dataclass
class Detection:
    semantics: Semantics
    evidence: list[str]
    facts: list[Fact]


def generation_of(version: str) -> str:
    """'1.2.2' -> keras1, '2.2.4' -> keras2, '2.2.4-tf' / '2.8.0' -> tf.keras, '3.10.0' -> keras3."""
    v = version_tuple(version)
    if v[0] <= 1:
        return "keras1"
    if v[0] >= 3:
        return "keras3"
    if version.endswith("-tf") or v >= (2, 4, 0):
        return "tf.keras"
    return "keras2"


def detect(
    stored_version: str | None,
    stored_backend: str | None,
    weight_names: list[str],
    assume: dict[str, str],
    version_where: str = "root attribute keras_version",
) -> Detection:
    """Decide generation, version and backend; `assume` holds `--assume` overrides (keys: backend, keras_version)."""
    evidence: list[str] = []
    facts: list[Fact] = []

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

    if "backend" in assume:
        backend = assume["backend"]
        facts.append(Fact("backend", backend, Source.OVERRIDE, "--assume backend"))
    elif stored_backend:
        backend = stored_backend
        evidence.append(f"backend attribute = {stored_backend!r}")
    else:
        backend, why, source = _infer_backend(generation, version, weight_names)
        facts.append(Fact("backend", backend, source, why))
        evidence.append(f"backend {backend}: {why}")
    if backend not in BACKENDS:
        from kstep.errors import BadInput

        raise BadInput(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    assert generation in GENERATIONS
    return Detection(Semantics(generation, version, backend), evidence, facts)


def _infer_backend(generation: str, version: str, weight_names: list[str]) -> tuple[str, str, Source]:
    if generation in ("tf.keras",):
        return "tensorflow", "tf.keras always runs on TensorFlow", Source.VERSION_DEFAULT
    if generation == "keras3":
        return ("tensorflow", "no backend attribute; every Keras 3 backend computes the same maths here",
                Source.ASSUMED)
    if weight_names:
        with_colon = sum(1 for n in weight_names if n.endswith(":0") or _has_tf_suffix(n))
        if with_colon == len(weight_names):
            return ("tensorflow", f"all {len(weight_names)} weight names end in ':0' (TensorFlow variable names)",
                    Source.ASSUMED)
        if with_colon == 0:
            return ("theano", f"none of the {len(weight_names)} weight names ends in ':0' (Theano names)",
                    Source.ASSUMED)
        return ("tensorflow", f"{with_colon} of {len(weight_names)} weight names end in ':0'; mixed, took TensorFlow",
                Source.ASSUMED)
    return ("theano", "no weight names to tell; assumed Theano, the backend of the Keras 1 models kstep is "
            "built for (Keras >= 1.1.0 defaulted to TensorFlow: --assume backend=tensorflow)", Source.ASSUMED)


def _has_tf_suffix(name: str) -> bool:
    head, sep, tail = name.rpartition(":")
    return bool(sep) and tail.isdigit()
