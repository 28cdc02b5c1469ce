"""Provides `preflight`: the cheap checks `kstep OLD NEW REF` makes before the app opens, and its first screen.

The debugger must refuse a bad file or argument before it takes over the terminal (one line, exit 2), yet draw its
screen within a second, so it cannot open both models in full first: attaching a big model's weights walks every
weight dataset (about 0.2 s per ResNet50-sized file) and the comparison imports the whole engine. The preflight
opens both files with `open_model(..., attach=False)`: the file's kind and structure, writer and backend, the model
config parsed into the layer graph and its execution order, with open_model's own refusals; then the reference
input(s) are read and checked against each model's declared inputs. No weight is read or checked and nothing
runs. What only the weights can show (a weight whose stored shape contradicts the config, a missing weight
dataset) is found by the comparison in the app's worker, which then ends the app with the same one line and
exit 2 (kstep.tui.launch).
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.analysis import Analysis
from kstep.compare.pending import pending_analysis
from kstep.errors import BadInput
from kstep.io.inputs import read_reference
from kstep.io.load import open_model
from kstep.ir import ModelFile


@dataclass
class Preflight:
    """Both models described without weights (`LayerSpec.weights` empty), and the notes reading the inputs gave."""

    old: ModelFile
    new: ModelFile
    notes: list[str]


def check_model(path: str, weights: str | None = None, assume: dict[str, str] | None = None) -> ModelFile:
    """The model file's description without weights; BadInput (open_model's message) for anything unreadable."""
    return open_model(path, weights, assume, attach=False)


def preflight(old: str, new: str, ref: str, ref_new: str | None = None, weights_old: str | None = None,
              weights_new: str | None = None, assume_old: dict | None = None,
              assume_new: dict | None = None) -> Preflight:
    """Check both model files and the reference input(s) as `Comparison` will, short of weights and running."""
    mf_old = check_model(old, weights_old, assume_old)
    mf_new = check_model(new, weights_new, assume_new)
    notes: list[str] = []
    read_reference(ref, mf_old.model, notes)
    if ref_new:
        read_reference(ref_new, mf_new.model, notes)
    n_old, n_new = len(mf_old.model.inputs), len(mf_new.model.inputs)
    if n_old != n_new:
        raise BadInput(f"OLD has {n_old} inputs and NEW has {n_new}; kstep pairs inputs by position")
    return Preflight(mf_old, mf_new, notes)


def first_analysis(pre: Preflight, forced: dict[str, str], atol: float | None, rtol: float,
                   command: list[str]) -> Analysis:
    """Every aligned layer pair, not yet computed: what `Comparison.analysis()` shows before its first row."""
    return pending_analysis(pre.old, pre.new, pre.old.path, pre.new.path, forced, atol, rtol, command, pre.notes)
