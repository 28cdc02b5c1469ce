"""Every layer kind the engine registers is exercised by at least one committed real-Keras fixture.

The kinds registered: kstep.engine.registry.REGISTRY (canonical kind -> kernel). The kinds exercised: every layer of
every case model in conftest.REAL_KERAS_MANIFESTS (the cases test_real_keras_cases.py judges against the outputs
real Keras computed), read with kstep's own reader, so Keras 1 spellings count as their canonical kind
(Convolution3D -> Conv3D, TimeDistributedDense -> Dense, ...), and layers inside wrappers (Bidirectional,
TimeDistributed) and nested models count too. A registered kind with no such fixture is a kernel that has only
ever been checked against hand-written expectations: this test names it. Fix by adding a case to
tests/fixtures/make_fixtures.py (tf-keras 2 / Keras 3) or tests/fixtures/make_legacy.py (Keras 1.2.2), or, only
when no real Keras can write and run a file with that kind here, by an entry in EXEMPT saying why.
"""

from __future__ import annotations

import json

import pytest

from kstep.engine.registry import REGISTRY
from kstep.io.load import open_model
from tests.conftest import REAL_KERAS_MANIFESTS, SHARED, need_shared

# kind -> why no real-Keras fixture can exist here. Empty: every registered kind has one. (CuDNNLSTM/CuDNNGRU
# cannot run on a CPU, but tf-keras builds and saves them; tests/fixtures/modern/tfk/cudnn_lstm_gru takes its
# expectation from tf-keras's own CuDNN -> LSTM/GRU weight conversion, see its manifest notes.)
EXEMPT: dict[str, str] = {}


def _walk(specs, case: str, found: dict[str, set[str]]) -> None:
    for spec in specs:
        found.setdefault(spec.kind, set()).add(case)
        if spec.inner is not None:
            _walk(spec.inner.layers, case, found)
        _walk(spec.wrapped, case, found)


@pytest.fixture(scope="module")
def covered() -> dict[str, set[str]]:
    """canonical kind -> the fixture cases ('label:case name') whose model holds it."""
    found: dict[str, set[str]] = {}
    for label, manifest in REAL_KERAS_MANIFESTS:
        if not manifest.exists():
            if SHARED in manifest.parents:
                need_shared(manifest)
            pytest.fail(f"{manifest} is missing: the repo's fixtures must be committed")
        for case in json.loads(manifest.read_text())["cases"]:
            with open_model(str(manifest.parent / case["model"])) as mf:
                _walk(mf.model.layers, f"{label}:{case['name']}", found)
    return found


def test_every_registered_kind_has_a_real_keras_fixture(covered):
    missing = sorted(set(REGISTRY) - set(covered) - set(EXEMPT))
    assert not missing, (f"{len(missing)} registered kind(s) with no real-Keras fixture case: {', '.join(missing)} "
                         "(add a case to tests/fixtures/make_fixtures.py or make_legacy.py, or justify in EXEMPT)")


def test_exemptions_are_real_and_still_needed(covered):
    stale = sorted(k for k in EXEMPT if k not in REGISTRY or k in covered)
    assert not stale, f"EXEMPT entries that are not registered or now have a fixture (remove them): {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


def test_the_count_is_about_the_engine(covered):
    """The reader maps every fixture layer to a kind the engine knows (else a case would test nothing), except the
    structural kinds and the deliberately unsupported Lambda."""
    unknown = sorted(set(covered) - set(REGISTRY) - {"InputLayer", "Model", "Lambda"})
    assert not unknown, f"fixture layers of kinds the engine does not register: {unknown}"
