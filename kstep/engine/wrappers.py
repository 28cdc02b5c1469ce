"""Provides the kernels for TimeDistributed and Bidirectional."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
