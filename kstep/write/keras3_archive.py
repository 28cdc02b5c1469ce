"""Provides `write_keras3_archive` (in progress)."""

from __future__ import annotations

from kstep.ir import ModelSpec


def write_keras3_archive(model: ModelSpec, path: str) -> None:
    raise NotImplementedError
