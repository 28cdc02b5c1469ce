"""Every real-world file in ../shared/corpus either inspects (exit 0) or is refused with one specific line (exit 2).

Full models and architecture JSONs with their paired weights must inspect; weights-only files alone must be
refused with a message asking for the architecture. The manifest says which is which.
"""

import json

import pytest

from kstep.cli import main
from tests.conftest import CORPUS, need_shared


def _entries():
    manifest = CORPUS / "manifest.json"
    if not manifest.exists():
        return [pytest.param(None, id="corpus-absent")]
    return [pytest.param(e, id=e["file"]) for e in json.loads(manifest.read_text())]


@pytest.mark.parametrize("entry", _entries())
def test_corpus_file(entry, capsys):
    """Full model -> exit 0 with a layer listing; JSON + weights -> exit 0; weights-only alone -> one line, exit 2."""
    need_shared(CORPUS / "manifest.json")
    path = CORPUS / entry["file"]
    if entry["format"] == "json-architecture":
        code = main(["inspect", str(path), "--weights", str(CORPUS / entry["pair"])])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "layers in config order" in out.out
    elif entry["has_model_config"]:
        code = main(["inspect", str(path)])
        out = capsys.readouterr()
        assert code == 0, out.err
        for cls in entry["layer_classes"]:
            if cls not in ("InputLayer",):
                assert cls in out.out, f"{cls} not shown"
    else:
        code = main(["inspect", str(path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert len(err) == 1 and "weights-only" in err[0] and "--weights" in err[0]


def test_corpus_keras1_backend_evidence(capsys):
    """Keras 1 files state no backend: kstep infers it from ':0' in weight names and says it assumed it."""
    need_shared(CORPUS / "manifest.json")
    for entry in json.loads((CORPUS / "manifest.json").read_text()):
        if entry["keras_generation"] != "keras-1.x" or not entry["has_model_config"] or entry["format"] != "hdf5":
            continue
        assert main(["inspect", str(CORPUS / entry["file"]), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        expected = entry["backend_inferred"].split()[0]
        assert doc["detected"]["backend"] == expected, entry["file"]
        fact = next(a for a in doc["assumptions"] if a["key"] == "backend")
        assert fact["source"] == "assumed" and "weight names" in fact["why"]


def test_keras_zip_and_h5_of_same_model_agree(capsys):
    """The .keras archive and the legacy .h5 of one Keras 3 model give the same layers and weight shapes."""
    need_shared(CORPUS / "manifest.json")
    docs = []
    for name in ("404error-010__ANN-Churn-Classification__model.keras",
                 "404error-010__ANN-Churn-Classification__model.h5"):
        assert main(["inspect", str(CORPUS / name), "--json"]) == 0
        docs.append(json.loads(capsys.readouterr().out))
    shapes = [[(layer["name"], [w["shape"] for w in layer["weights"]]) for layer in d["model"]["layers"]]
              for d in docs]
    assert shapes[0] == shapes[1]
    assert docs[0]["detected"]["generation"] == docs[1]["detected"]["generation"] == "keras3"
