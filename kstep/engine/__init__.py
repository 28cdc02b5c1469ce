"""Provides kstep's numpy engine: one module per layer family, an explicit registry, a stepping executor."""
