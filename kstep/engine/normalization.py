"""Provides the kernels for BatchNormalization (incl. Keras 1 modes), LayerNormalization, UnitNormalization, GroupNormalization."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
