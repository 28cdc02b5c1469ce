"""Shared test helpers: where ../shared is, and the rule for tests that need it.

Tests that read ../shared (the real Keras fixtures and the corpus) skip, saying why, only when it is absent on a
developer machine; in CI (CI=true) its absence is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LEGACY = SHARED / "fixtures" / "legacy"
CORPUS = SHARED / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"

# Every manifest of real-Keras fixture cases (label, path): test_real_keras_cases.py judges kstep on each case,
# test_kind_coverage.py counts the layer kinds they hold. The first lives in ../shared, the others in this repo.
REAL_KERAS_MANIFESTS = (
    ("legacy", LEGACY / "cases" / "manifest.json"),               # Keras 1.2.2 / 2.2.4 on Theano (shared)
    ("legacy-k1", FIXTURES / "legacy" / "manifest.json"),          # Keras 1.2.2 on Theano (make_legacy.py)
    ("modern", FIXTURES / "modern" / "manifest.json"),             # tf-keras 2.21 / Keras 3.15 (make_fixtures.py)
    ("unsupported", FIXTURES / "modern" / "unsupported" / "manifest.json"),
)


def need_shared(path: Path) -> Path:
    """Return `path`, or skip (fail in CI) when ../shared is not beside the repo."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI; ../shared must be beside the repo")
        pytest.skip(f"{path} is absent (../shared not beside the repo)")
    return path
