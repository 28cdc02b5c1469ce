"""Provides the kernels for Dense, Activation, identity-at-inference layers, reshaping layers, Embedding, Masking, preprocessing layers, Keras 1 Highway/MaxoutDense."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
