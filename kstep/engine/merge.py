"""Provides the kernels for Add/Subtract/Multiply/Average/Maximum/Minimum/Concatenate/Dot and Keras 1 Merge modes."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
