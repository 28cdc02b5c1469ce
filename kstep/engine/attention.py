"""Provides the kernels for Attention, AdditiveAttention, MultiHeadAttention."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
