"""Provides the kernels for advanced activation layers (LeakyReLU, PReLU, ELU, ThresholdedReLU, ReLU, Softmax, Keras 1 ParametricSoftplus/SReLU)."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
