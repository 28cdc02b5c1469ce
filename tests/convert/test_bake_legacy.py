"""The baking pass against real Keras: every Keras 1.2.2 / 2.2.4 (Theano) case is baked for tf.keras, the baked
model is run by kstep's engine *with the target's semantics* (TensorFlow, tf.keras 2.21), and every layer output the
original Keras recorded (expected.npz) is reproduced within 1e-5 + 1e-4·|keras|, mapped through the layouts (a
channels_first map compared with its channels_last twin). The cases refused are exactly the ones listed, each for
its stated reason. No file is written here (tests/convert/test_convert_cli.py covers the writers)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from kstep.compare.layout import to_old
from kstep.convert.annotate import annotate
from kstep.convert.bake import TARGET_SEMANTICS, bake
from kstep.convert.graph import walk
from kstep.convert.target import NotExpressible, Target
from kstep.engine.executor import Executor
from kstep.io.load import open_model
from tests.conftest import FIXTURES, LEGACY, need_shared

MANIFESTS = (LEGACY / "cases", FIXTURES / "legacy")
REFUSED = {
    "k1/lambda": "Lambda",
    "k2/lambda": "Lambda",
    "k1/td_dense_bn_modes": "mode 2",
}


def _cases():
    for root in MANIFESTS:
        manifest = root / "manifest.json"
        if not manifest.exists():
            continue
        for case in json.loads(manifest.read_text())["cases"]:
            yield pytest.param(root, case, id=f"{root.name}:{case['name']}")


def _feeds(root, case, mf) -> dict[str, np.ndarray]:
    path = root / case["input"]
    if path.suffix == ".npz":
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    return {mf.model.inputs[0].layer: np.load(path)}


@pytest.mark.parametrize("root,case", list(_cases()))
def test_baked_model_reproduces_the_original_keras_outputs(root, case):
    need_shared(LEGACY)
    with open_model(str(root / case["model"])) as mf:
        if case["name"] in REFUSED:
            with pytest.raises(NotExpressible, match=REFUSED[case["name"]]):
                bake(mf, Target.TF_KERAS)
            return
        baked = bake(mf, Target.TF_KERAS)
        left = [spec.name for _, _, spec in walk(baked.model) if spec.params.get("data_format") == "channels_first"
                and spec.kind != "Flatten" and "LocallyConnected" not in spec.kind]
        assert not left, f"still channels_first after --layout channels_last (TensorFlow's CPU cannot run): {left}"
        source_tags = annotate(mf)
        target = dataclasses.replace(mf, semantics=TARGET_SEMANTICS[Target.TF_KERAS], model=baked.model)
        target_tags = annotate(target)
        feeds = _feeds(root, case, mf)
        for name, x in feeds.items():  # each input in the layout the converted model declares
            if target_tags.input_shapes[name] != source_tags.input_shapes[name]:
                feeds[name] = np.moveaxis(x, 1, -1)
        with np.load(root / case["expected"]) as z:
            expected = {k: z[k] for k in z.files}
        compared = 0
        for result in Executor(target).step(feeds):
            assert not result.unsupported, result.unsupported
            for i, (key, got) in enumerate(result.keyed_outputs().items()):
                if key not in expected or result.key not in source_tags.calls:
                    continue
                old_tag = source_tags.calls[result.key].out_tags[i]
                new_tag = target_tags.calls[result.key].out_tags[i]
                got = to_old(got, old_tag, new_tag)
                want = expected[key]
                assert got.shape == want.shape, (key, got.shape, want.shape)
                err = np.abs(got.astype(np.float64) - want)
                assert np.all(err <= 1e-5 + 1e-4 * np.abs(want)), (key, float(err.max()))
                compared += 1
        assert compared > 0
