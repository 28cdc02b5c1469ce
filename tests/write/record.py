"""The conversions `kstep convert`'s target writers are proven on, how one conversion is run, and where the real-Keras
record lives; shared by the real-Keras check (tests/fixtures/verify_convert.py, which writes
tests/fixtures/convert_verified.json) and the CI tests (tests/write/). The content digest of a written file is
tests/repair/record.py's (config + every array)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kstep.convert.target import NotExpressible, Target
from kstep.io.load import open_model
from kstep.semantics import HardSigmoid
from kstep.write.layer_config import ACTIVATION_KEYS
from kstep.write.targets import write_target
from tests.conftest import FIXTURES

MODERN = FIXTURES / "modern"
RECORD = FIXTURES / "convert_verified.json"
SUFFIX = {Target.TF_KERAS: ".h5", Target.KERAS3: ".keras"}


@dataclass(frozen=True)
class Case:
    """One conversion: a fixture model (path relative to tests/fixtures), its reference input and expected outputs
    as its own Keras computed them, and the target."""

    name: str
    model: str
    input: str
    expected: str
    target: Target

    @property
    def id(self) -> str:
        return f"{self.name}->{self.target.value}"


def cases() -> list[Case]:
    """Every modern fixture kstep reads (tests/fixtures/modern: tf_keras 2.21 and Keras 3.15 files; the ones its
    manifest marks unsupported are in modern/unsupported, not listed) and the reader fixtures that are one model file
    (modern/reader: a Keras 3 .keras archive), converted to both targets."""
    manifest = json.loads((MODERN / "manifest.json").read_text())
    reader = json.loads((MODERN / "reader" / "reader.json").read_text())
    found = [(c["name"], f"modern/{c['model']}", f"modern/{c['input']}", f"modern/{c['expected']}")
             for c in manifest["cases"]]
    found += [(f"reader/{c['name']}", f"modern/reader/{c['model']}", f"modern/reader/{c['input']}",
               f"modern/reader/{c['expected']}") for c in reader["cases"] if c.get("model")]
    return [Case(*c, target=target) for c in found for target in Target]


def convert(model: Path, out: Path, target: Target) -> None:
    """Run one conversion of `model` to `out`: the one place that knows how. Until `kstep convert` exists: read
    with kstep.io, refuse what only the baking pass could express, then write_target. NotExpressible when refused
    (nothing written).

    The one semantic difference a modern file can carry that the writers cannot see: Keras 3's hard_sigmoid is
    relu6(x + 3) / 6 (kstep.semantics `hard_sigmoid`), while a target-ready model means tf.keras's clip(0.2x + 0.5):
    a Keras 3 file using it is refused for tf.keras (and the Keras 3 writer refuses every hard_sigmoid)."""
    with open_model(str(model)) as mf:
        if mf.semantics.hard_sigmoid is HardSigmoid.RELU6 and target is Target.TF_KERAS:
            for spec in _all_layers(mf.model.layers):
                for key in ACTIVATION_KEYS:
                    if spec.params.get(key) == "hard_sigmoid":
                        raise NotExpressible(spec.name, f"{key}='hard_sigmoid' is Keras 3's relu6(x + 3) / 6, "
                                                        "which tf.keras 2 has no activation for")
        write_target(mf.model, target, str(out))


def _all_layers(layers: list) -> list:
    out = []
    for spec in layers:
        out.append(spec)
        out.extend(_all_layers(spec.wrapped))
        if spec.inner is not None:
            out.extend(_all_layers(spec.inner.layers))
    return out
