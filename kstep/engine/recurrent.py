"""Provides the kernels for SimpleRNN, LSTM, GRU, CuDNN variants, ConvLSTM2D."""

from __future__ import annotations

KERNELS: dict = {}
PASSES_MASK: set[str] = set()
