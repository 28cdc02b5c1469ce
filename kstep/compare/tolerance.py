"""Provides the tolerance policy: which `Tolerance` a row, its weights, the inputs and the report header use.

Pure functions of the options (kstep.options) and the measured float32 noise; the defaults are kstep.options'
MIN_ATOL and NOISE_FACTOR. A row's tolerance is, in this order: the user's `--tolerance LAYER` for either layer of
the pair, the user's `--atol`/`--rtol`, else the default rule max(MIN_ATOL, NOISE_FACTOR x noise) with the user's
rtol. A noise that is not finite (the float64 re-run is inf or NaN where float32 is finite, or the reverse) is not
measurable: the default rule then falls back to MIN_ATOL (`noise_unmeasurable` says so, for the row's note). Each
result carries its `origin`, which is what later logic asks; `source` is only shown. Light on purpose: no numpy
(kstep.compare.pending uses it before anything is computed).
"""

from __future__ import annotations

import math
from typing import Iterable

from kstep.analysis import Tolerance, ToleranceOrigin
from kstep.options import MIN_ATOL, NOISE_FACTOR, CompareOptions


def row_tolerance(options: CompareOptions, names: Iterable[str], noise: float) -> Tolerance:
    """The tolerance of one aligned pair. names: the pair's dump keys and layer names, OLD's first (the first
    with a --tolerance wins); noise: the larger of the two layers' measured float32 noise (max |Δ| against the
    float64 run; 0.0 when not measured)."""
    for name in names:
        if name in options.per_layer:
            atol, rtol = options.per_layer[name]
            return Tolerance(atol, rtol, f"--tolerance {name}", origin=ToleranceOrigin.PER_LAYER)
    if options.atol is not None:
        return Tolerance(options.atol, options.rtol, "--atol", noise, ToleranceOrigin.USER)
    if not math.isfinite(noise):
        return Tolerance(MIN_ATOL, options.rtol, UNMEASURABLE_SOURCE, noise, ToleranceOrigin.DEFAULT)
    return Tolerance(max(MIN_ATOL, NOISE_FACTOR * noise), options.rtol, "default: max(1e-5, 10x float32 noise)",
                     noise, ToleranceOrigin.DEFAULT)


UNMEASURABLE_SOURCE = "default: 1e-5 (float32 noise not measurable)"
NOISE_UNMEASURABLE = ("float32 noise not measurable (the float64 re-run is inf or NaN where float32 is finite, or the "
                      "reverse): default atol 1e-5")


def noise_unmeasurable(tol: Tolerance) -> bool:
    """The default rule applied, but the measured noise was not finite, so atol fell back to MIN_ATOL."""
    return (tol.origin is ToleranceOrigin.DEFAULT and tol.noise_floor is not None
            and not math.isfinite(tol.noise_floor))


def weight_tolerance(row: Tolerance) -> Tolerance:
    """Weights have no float32 noise: the user's atol/rtol (the row's, when the user chose it), else MIN_ATOL and
    the row's rtol."""
    if row.user_given:
        return Tolerance(row.atol, row.rtol, row.source, origin=row.origin)
    return Tolerance(MIN_ATOL, row.rtol, "default for weights", origin=ToleranceOrigin.WEIGHTS)


def input_tolerance(rtol: float) -> Tolerance:
    """The tolerance under which the two models' reference inputs count as the same input."""
    return Tolerance(MIN_ATOL, rtol)


def shown_tolerance(atol: float | None, rtol: float) -> Tolerance:
    """The global tolerance printed in the header: the user's, or the default rule."""
    if atol is not None:
        return Tolerance(atol, rtol, "--atol/--rtol", origin=ToleranceOrigin.USER)
    return Tolerance(MIN_ATOL, rtol, "default: atol = max(1e-5, 10x the layer's float32-vs-float64 noise), rtol 1e-4")


def is_noise_only(tol: Tolerance, excess: float) -> bool:
    """A comparison passed only because the default rule widened atol beyond MIN_ATOL for the measured noise.
    excess: the smallest atol under which it passes (Stats.excess)."""
    return tol.origin is ToleranceOrigin.DEFAULT and excess > MIN_ATOL
