"""Provides the comparison of two models: alignment, layout mapping, statistics, first divergence, diagnosis."""
