"""Every .h5 in ../shared/fixtures/legacy (real Keras 1.2.2 / 2.2.4 files) inspects with exit 0, and the
Keras 1 layout facts the README lists come out as documented."""

import json

import numpy as np
import pytest

from kstep.cli import main
from kstep.io.load import open_model
from tests.conftest import LEGACY, need_shared


def _files():
    if not LEGACY.exists():
        return [pytest.param(None, id="legacy-absent")]
    return [pytest.param(p, id=str(p.relative_to(LEGACY))) for p in sorted(LEGACY.rglob("*.h5"))]


@pytest.mark.parametrize("path", _files())
def test_legacy_file_inspects(path, capsys):
    """inspect exits 0 and lists the model."""
    need_shared(LEGACY)
    assert main(["inspect", str(path)]) == 0, capsys.readouterr().err
    assert "layers in config order" in capsys.readouterr().out


def test_keras1_theano_backend_is_assumed_from_weight_names():
    """Keras 1.2.2 writes no backend attribute; names without ':0' mean Theano, recorded as an assumption."""
    need_shared(LEGACY)
    with open_model(str(LEGACY / "cases/k1/conv2d_th.h5")) as mf:
        assert mf.stored_backend is None
        assert mf.semantics.backend == "theano"
        fact = next(f for f in mf.facts if f.key == "backend")
        assert fact.source.value == "assumed"


def test_backend_override():
    """--assume backend=tensorflow changes the semantics and is recorded as an override."""
    need_shared(LEGACY)
    with open_model(str(LEGACY / "cases/k1/conv2d_th.h5"), assume={"backend": "tensorflow"}) as mf:
        assert mf.semantics.backend == "tensorflow"
        assert next(f for f in mf.facts if f.key == "backend").source.value == "override"


def test_keras1_th_conv_kernel_is_transposed_not_flipped():
    """A Keras 1 'th' kernel (out,in,r,c) becomes (r,c,in,out) by transpose only; flipping is the engine's job."""
    need_shared(LEGACY)
    import h5py

    path = LEGACY / "cases/k1/conv2d_th.h5"
    with open_model(str(path)) as mf:
        conv = next(layer for layer in mf.model.layers if layer.kind == "Conv2D")
        ref = conv.weights[0]
        got = ref.load()
        with h5py.File(path, "r", locking=False) as f:
            stored = f["model_weights"][conv.name][ref.name][()]
    assert stored.ndim == 4
    np.testing.assert_array_equal(got, stored.transpose(2, 3, 1, 0))
    assert "transpose" in ref.transform


def test_keras1_lstm_gates_reordered():
    """Keras 1 LSTM's 12 per-gate arrays (i,c,f,o) are concatenated in canonical i,f,c,o order."""
    need_shared(LEGACY)
    import h5py

    path = LEGACY / "cases/k1/rnn_variants.h5"
    with open_model(str(path)) as mf:
        lstm = next(layer for layer in mf.model.layers if layer.kind == "LSTM")
        kernel = lstm.weights[0].load()
        with h5py.File(path, "r", locking=False) as f:
            g = f["model_weights"][lstm.name]
            parts = [g[f"{lstm.name}_W_{gate}"][()] for gate in "ifco"]
    np.testing.assert_array_equal(kernel, np.concatenate(parts, axis=-1))


def test_keras1_prelu_shared_axes_inferred(capsys):
    """Keras 1 PReLU stores no shared_axes; kstep infers them from the alpha shape and says so."""
    need_shared(LEGACY)
    assert main(["inspect", str(LEGACY / "cases/k1/prelu_conv_th.h5"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    facts = [a for a in doc["assumptions"] if a["key"].endswith(".shared_axes")]
    assert facts and all(a["source"] == "assumed" for a in facts)


def test_keras1_padding_layers_record_assumed_ordering(capsys):
    """Keras 1.2.2 ZeroPadding2D/Cropping2D/UpSampling2D did not store dim_ordering: an assumption per layer."""
    need_shared(LEGACY)
    assert main(["inspect", str(LEGACY / "cases/k1/pool2d_tf.h5"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    keys = {a["key"] for a in doc["assumptions"]}
    kinds = {layer["name"]: layer["kind"] for layer in doc["model"]["layers"]}
    for name, kind in kinds.items():
        if kind in ("ZeroPadding2D", "Cropping2D", "UpSampling2D"):
            assert f"layer.{name}.data_format" in keys
    image = next(a for a in doc["assumptions"] if a["key"] == "image_data_format")
    assert image["value"] == "channels_last"  # every other layer in the file says 'tf'


def test_output_shapes_match_what_keras_computed(capsys):
    """inspect's per-layer output shapes equal the shapes of the outputs real Keras computed (batch axis free)."""
    need_shared(LEGACY)
    manifest = json.loads((LEGACY / "cases" / "manifest.json").read_text())
    checked = 0
    for case in manifest["cases"]:
        if case["name"] not in ("k1/conv2d_th", "k2/multi_io", "k1/rnn_variants", "k2/nested_in_functional"):
            continue
        assert main(["inspect", str(LEGACY / "cases" / case["model"]), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        shapes = {}

        def collect(model, prefix=""):
            for layer in model["layers"]:
                for c, s in enumerate(layer["output_shapes"]):
                    key = prefix + layer["name"] + (f"@{c}" if len(layer["output_shapes"]) > 1 else "")
                    if s:
                        shapes[key] = s[0]
                if "model" in layer:
                    collect(layer["model"], prefix + layer["name"] + "/")
        collect(doc["model"])
        for layer in case["layers"]:
            if ":" in layer["key"]:
                continue
            assert shapes[layer["key"]] == [None] + layer["shape"][1:], layer["key"]
            checked += 1
    assert checked >= 15
