"""Provides `bake`: MODEL as its own Keras ran it -> a target-ready `ir.ModelSpec` (kstep.convert.target) plus the
list of transforms applied, each a line for the summary. The passes run in this order on a clone (MODEL's own
description is never edited): refusals (nothing expressible is attempted), channels_first ConvLSTMs run
channels_last between Permutes (before MODEL is annotated), Keras-1-only kinds, Theano kernel flips,
the layout move (unless `--layout keep`), then, on the moved layout, transposed convolutions placed as MODEL's
Keras placed them and Theano's 'same' padding, and last any layer still declared channels_first run channels_last
between Permutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kstep.convert.annotate import annotate
from kstep.convert.convlstm import bake_convlstm_cf
from kstep.convert.graph import clone_model
from kstep.convert.keras1 import bake_keras1_kinds
from kstep.convert.layout import bake_cf_leftovers, bake_layout
from kstep.convert.refuse import refusals
from kstep.convert.target import Layout, Target
from kstep.convert.theano import bake_flips, bake_padding
from kstep.convert.transposed import bake_transposed
from kstep.ir import ModelFile, ModelSpec
from kstep.semantics import Backend, Generation, Semantics

TARGET_SEMANTICS = {Target.TF_KERAS: Semantics(Generation.TF_KERAS, "2.21.0", Backend.TENSORFLOW),
                    Target.KERAS3: Semantics(Generation.KERAS3, "3.15.1", Backend.TENSORFLOW)}
"""How each target runs what kstep writes (the versions kstep's writers and their real-Keras checks target)."""


@dataclass(frozen=True)
class Baked:
    """The target-ready model and what was done to get it (one line per transform, in order)."""

    model: ModelSpec
    transforms: tuple[str, ...]


def bake(mf: ModelFile, target: Target, layout: Layout = Layout.CHANNELS_LAST) -> Baked:
    """MODEL baked for `target`; NotExpressible (exit 3) for the first layer the target cannot express."""
    found = refusals(mf.model, mf.semantics, target)
    if found:
        raise found[0]
    model = clone_model(mf.model)
    done: list[str] = []
    if layout is Layout.CHANNELS_LAST:
        bake_convlstm_cf(model, done)
    ann = annotate(dataclasses.replace(mf, model=model))
    bake_keras1_kinds(model, ann, done)
    bake_flips(model, mf.semantics, done)
    if layout is Layout.CHANNELS_LAST:
        bake_layout(model, ann, done)
    bake_transposed(model, mf.semantics, TARGET_SEMANTICS[target], ann, done)
    bake_padding(model, mf.semantics, ann, done)
    if layout is Layout.CHANNELS_LAST:
        bake_cf_leftovers(model, done)
    return Baked(model, tuple(done))
