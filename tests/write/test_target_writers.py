"""kstep convert's target writers without Keras: every modern fixture written to both targets (tests/write/record.py
runs the conversion), read back by kstep's own reader, computes what the original computes by kstep's own comparison
(`kstep report` exit 0), keeps every layer's kind and params, and leaves nothing behind when refused. Real Keras
loading the same files is tests/fixtures/verify_convert.py's job (tests/write/test_convert_verified.py)."""

from __future__ import annotations

import pytest

from kstep.cli import main
from kstep.convert.target import NotExpressible, Target
from kstep.errors import ExitCode
from kstep.io.load import open_model
from kstep.ir import LayerSpec, ModelSpec
from kstep.kinds import KINDS
from kstep.write.keras3_archive import INPUT_KEYS
from kstep.write.layer_config import plain
from kstep.write.targets import write_target
from tests.conftest import FIXTURES
from tests.write.record import SUFFIX, Case, cases, convert

CASES = cases()


def _layers(model: ModelSpec) -> dict[str, LayerSpec]:
    out = {}
    for spec in model.layers:
        out[spec.name] = spec
        for inner in spec.wrapped:
            out[f"{spec.name}/{inner.name}"] = inner
        if spec.inner is not None:
            out.update({f"{spec.name}/{k}": v for k, v in _layers(spec.inner).items()})
    return out


def _params(spec: LayerSpec, target: Target) -> dict:
    """The params a round trip must keep: all but the keys only Keras 3 spells (Spelling.extra: the tf.keras writer
    drops them when neutral, the Keras 3 writer states them), the ones tf.keras needs stated (`fill`, None: built
    on the first call) and the build shapes Keras 3 keeps out of the config (`build`, which the reader skips); for
    Keras 3 also what it does not hold (`unstated`: only its one value, checked by the writer; a layer's own input
    shape)."""
    record = KINDS.get(spec.kind)
    skip = set(record.keras3.extra) | set(record.keras3.build) | set(record.tf_keras.fill) if record else set()
    if record and target is Target.KERAS3:
        skip |= set(record.keras3.unstated) | set(INPUT_KEYS)
    return {k: v for k, v in plain(spec.params).items() if k not in skip}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_written_file_agrees_and_keeps_the_config(case: Case, tmp_path, capsys):
    """OUT read back: same layers, kinds and params; `kstep report MODEL OUT REF` finds them agreeing."""
    model = FIXTURES / case.model
    out = tmp_path / f"out{SUFFIX[case.target]}"
    try:
        convert(model, out, case.target)
    except NotExpressible as exc:
        assert not out.exists() and list(tmp_path.iterdir()) == []
        assert exc.exit_code == ExitCode.UNSUPPORTED and "\n" not in exc.line()
        return  # a refusal is the outcome; tests/write/test_convert_verified.py checks it is the recorded one
    with open_model(str(model)) as before, open_model(str(out)) as after:
        old, new = _layers(before.model), _layers(after.model)
        assert sorted(old) == sorted(new)
        for name, spec in old.items():
            assert new[name].kind == spec.kind, name
            assert _params(new[name], case.target) == _params(spec, case.target), name
    code = main(["report", str(model), str(out), str(FIXTURES / case.input)])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.out[-3000:]


@pytest.mark.parametrize("target", list(Target))
def test_unknown_kind_is_refused_before_writing(target, tmp_path):
    """A layer kstep cannot write (a Lambda's code is never run) is NotExpressible, exit 3, one line; no file."""
    with open_model(str(FIXTURES / "modern" / "unsupported" / "tfk" / "lambda_unsupported.h5")) as mf:
        out = tmp_path / f"out{SUFFIX[target]}"
        with pytest.raises(NotExpressible) as info:
            write_target(mf.model, target, str(out))
    assert info.value.exit_code == ExitCode.UNSUPPORTED
    assert "Lambda" in info.value.line() and "\n" not in info.value.line()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,layer,why", [
    ("tfk/dense_activations", "d_hard_sigmoid", "hard_sigmoid"),
    ("tfk/locally_connected", "lc1d_s2", "Keras 3 has no LocallyConnected"),
    ("tfk/noise_identity_activation_layers", "thresholded_relu", "no ThresholdedReLU"),
])
def test_keras3_refuses_what_it_cannot_express(name, layer, why, tmp_path):
    """Keras 3 has no such layer, or computes the activation differently: refused, naming the layer, with the hint
    to convert to tf.keras instead."""
    with open_model(str(FIXTURES / "modern" / f"{name}.h5")) as mf:
        with pytest.raises(NotExpressible) as info:
            write_target(mf.model, Target.KERAS3, str(tmp_path / "out.keras"))
    assert info.value.layer == layer and why in info.value.line() and "--to tf.keras" in info.value.line()
    assert list(tmp_path.iterdir()) == []


def test_keras3_hard_sigmoid_is_refused_for_tf_keras(tmp_path):
    """Keras 3's hard_sigmoid (relu6(x + 3) / 6) has no tf.keras spelling: a Keras 3 file using it is refused."""
    with pytest.raises(NotExpressible) as info:
        convert(FIXTURES / "modern" / "k3" / "dense_activations.h5", tmp_path / "out.h5", Target.TF_KERAS)
    assert info.value.layer == "d_hard_sigmoid"
    assert list(tmp_path.iterdir()) == []
