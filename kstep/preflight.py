"""Provides `preflight`: the cheap checks `kstep OLD NEW REF` makes before the app opens, and its first screen.

The debugger must refuse a bad file or argument before it takes over the terminal (one line, exit 2), yet draw its
screen within a second, so it cannot open both models in full first: attaching a big model's weights walks every
weight dataset (about 0.2 s per ResNet50-sized file) and the comparison imports the whole engine. The preflight
opens both files with `open_model(..., attach=False)`: the file's kind and structure, writer and backend, the model
config parsed into the layer graph and its execution order, with open_model's own refusals; then the reference
input(s) are read and checked against each model's declared inputs. Nothing runs and no weight array is read; a
small model (FULL_CHECK_LAYERS) is also opened in full, which checks its weights' structure. For a bigger model,
what only the weights can show (a weight whose stored shape contradicts the config, a missing weight dataset, an
external link behind a weight) is found by the comparison in the app's worker, which then ends the app with the
same one line and exit 2 (kstep.tui.launch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kstep.analysis import Analysis
from kstep.compare.pending import pending_analysis
from kstep.errors import BadInput
from kstep.io.load import open_model
from kstep.io.samples import open_samples
from kstep.ir import ModelFile, ModelSpec
from kstep.options import CompareOptions


@dataclass
class Preflight:
    """Both models described without weights (`LayerSpec.weights` empty), and the notes reading the inputs gave."""

    old: ModelFile
    new: ModelFile
    notes: list[str]


FULL_CHECK_LAYERS = 64
"""Models with at most this many layers (nested ones counted) are also opened in full before the app: their
weights' structure is checked too (about 1 ms a layer), so every fault of a small file is refused before the
screen opens. A bigger model's weights are first opened by the app's worker."""


def check_model(path: str, weights: str | None = None, assume: Mapping[str, str] | None = None) -> ModelFile:
    """The model file's description without weights; BadInput (open_model's message) for anything unreadable."""
    facts = dict(assume or {})
    mf = open_model(path, weights, facts, attach=False)
    if _layer_count(mf.model) <= FULL_CHECK_LAYERS:
        with open_model(path, weights, facts):  # the weights' structure; no array is read
            pass
    return mf


def _layer_count(model: ModelSpec) -> int:
    """Layers of `model`, those of nested models included."""
    return sum(1 + (_layer_count(spec.inner) if spec.inner is not None else 0) for spec in model.layers)


def preflight(old: str, new: str, ref: str, ref_new: str | None = None,
              options: CompareOptions = CompareOptions()) -> Preflight:
    """Check both model files and the reference input(s) as `Comparison` will, short of weights and running."""
    mf_old = check_model(old, options.weights_old, options.assume_old)
    mf_new = check_model(new, options.weights_new, options.assume_new)
    notes: list[str] = []
    # headers and the selection, no data read (no pixel decoded)
    open_samples(ref, mf_old.model, notes, options.samples, options.more_refs, options.resize).close()
    if ref_new:
        open_samples(ref_new, mf_new.model, notes, options.samples, resize=options.resize).close()
    n_old, n_new = len(mf_old.model.inputs), len(mf_new.model.inputs)
    if n_old != n_new:
        raise BadInput(f"OLD has {n_old} inputs and NEW has {n_new}; kstep pairs inputs by position")
    return Preflight(mf_old, mf_new, notes)


def first_analysis(pre: Preflight, options: CompareOptions, command: list[str]) -> Analysis:
    """Every aligned layer pair, not yet computed: what `Comparison.analysis()` shows before its first row."""
    return pending_analysis(pre.old, pre.new, pre.old.path, pre.new.path, dict(options.forced), options.atol,
                            options.rtol, command, pre.notes)
