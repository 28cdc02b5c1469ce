"""Provides weight comparison in effective form, and the known transforms that relate two weight arrays.

Effective form: a convolution kernel as the cross-correlation that was actually executed (Theano's true
convolution flips it), and a Dense kernel that reads a flattened feature map with its rows in OLD's flatten order.
A correct Theano -> TensorFlow migration is then "identical"; an unflipped kernel is "equal up to a spatial flip".
"""

from __future__ import annotations

import itertools

import numpy as np

from kstep.analysis import Tolerance, VerdictKind, WeightDiff, WeightTransform, WeightVerdict
from kstep.compare.align import plain_kind
from kstep.compare.layout import Tag, dense_rows_to_old
from kstep.compare.metrics import compare_arrays
from kstep.engine.recurrent import cudnn_as_plain
from kstep.ir import LayerSpec
from kstep.kinds import info
from kstep.semantics import Semantics


def gates_of(kind: str) -> tuple[str, ...]:
    """A recurrent kind's gate names in canonical order, when there are several to reorder (else ())."""
    kind_info = info(kind)
    gates = kind_info.gates if kind_info is not None else ()
    return gates if len(gates) > 1 else ()


def flip_spatial(kernel: np.ndarray) -> np.ndarray:
    """Reverse every axis except the last two (keras.utils.conv_utils.convert_kernel)."""
    if kernel.ndim < 3:
        return kernel
    return np.ascontiguousarray(kernel[(slice(None, None, -1),) * (kernel.ndim - 2)])


def effective(spec: LayerSpec, weights: list[np.ndarray], sem: Semantics) -> list[np.ndarray]:
    """The weights as executed: Theano-flipped convolution kernels flipped back into correlation form; a CuDNN
    recurrent layer's weights in the form of the plain LSTM / GRU(reset_after=True) that computes the same."""
    if spec.wrapped:  # TimeDistributed / Bidirectional: each wrapped layer's share of the weights, in order
        out, start = [], 0
        for inner in spec.wrapped:
            n = len(inner.weights)
            out += effective(inner, list(weights[start:start + n]), sem)
            start += n
        return out + list(weights[start:])
    if plain_kind(spec.kind) is not None and len(weights) == 3:
        plain = cudnn_as_plain(spec.kind, weights)
        if plain is not None:
            return plain
    out = list(weights)
    kind_info = info(spec.kind)
    if sem.flips_kernel(spec.kind) and kind_info is not None:
        for i in kind_info.flipped_by_theano:
            if i < len(out):
                out[i] = flip_spatial(out[i])
    return out


def permute_gates(w: np.ndarray, perm: tuple[int, ...], n: int) -> np.ndarray:
    """Reorder the n gate blocks on the last axis of w (or the last axis of each row for a (2, 3u) bias)."""
    blocks = np.split(w, n, axis=-1)
    return np.concatenate([blocks[p] for p in perm], axis=-1)


def weight_names(spec: LayerSpec) -> list[str]:
    return [w.name for w in spec.weights]


def compare_weights(old_spec: LayerSpec, old_w: list[np.ndarray], old_sem: Semantics, old_in: Tag,
                    new_spec: LayerSpec, new_w: list[np.ndarray], new_sem: Semantics, new_in: Tag,
                    tol: Tolerance) -> list[WeightDiff]:
    """Per weight array (paired by canonical position): identical, equal up to a known transform, or different."""
    eo = effective(old_spec, old_w, old_sem)
    en = effective(new_spec, new_w, new_sem)
    if new_spec.kind == "Dense" and en and old_in.kind == "flat":
        en[0] = dense_rows_to_old(en[0], old_in, new_in)
    names_o, names_n = weight_names(old_spec), weight_names(new_spec)
    diffs = []
    for i in range(max(len(eo), len(en))):
        a = eo[i] if i < len(eo) else None
        b = en[i] if i < len(en) else None
        no = names_o[i] if i < len(names_o) else None
        nn = names_n[i] if i < len(names_n) else None
        if a is None or b is None:
            diffs.append(WeightDiff(no, nn, None if a is None else a.shape, None if b is None else b.shape,
                                    WeightVerdict(VerdictKind.MISSING)))
            continue
        if a.shape != b.shape:
            diffs.append(WeightDiff(no, nn, a.shape, b.shape, WeightVerdict(VerdictKind.SHAPE_MISMATCH)))
            continue
        stats = compare_arrays(a, b, tol)
        if stats.max_abs == 0:
            verdict = WeightVerdict(VerdictKind.IDENTICAL)
        elif stats.passed:
            verdict = WeightVerdict(VerdictKind.WITHIN_TOLERANCE)
        else:
            verdict = explain(old_spec, i, a, b, tol, old_in, new_in, en) or WeightVerdict(VerdictKind.DIFFERENT)
        diffs.append(WeightDiff(no, nn, a.shape, b.shape, verdict, stats.max_abs))
    return diffs


def explain(spec: LayerSpec, index: int, a: np.ndarray, b: np.ndarray, tol: Tolerance, old_in: Tag, new_in: Tag,
            new_eff: list[np.ndarray]) -> WeightVerdict | None:
    """Name the known transform that maps NEW's effective array b onto OLD's a, if one does."""
    if a.ndim >= 3 and compare_arrays(a, flip_spatial(b), tol).passed:
        return WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP)
    if a.ndim == 4 and a.shape[0] == a.shape[1] and compare_arrays(a, np.swapaxes(b, 0, 1), tol).passed:
        return WeightVerdict.up_to(WeightTransform.KERNEL_ROWS_COLUMNS)
    if spec.kind == "Dense" and index == 0 and old_in.kind == "flat":
        alt = dense_rows_to_old(b, new_in, old_in)  # b's rows mapped the other way: rows left unpermuted
        for cand in (alt, dense_rows_to_old(alt, new_in, old_in)):
            if compare_arrays(a, cand, tol).passed:
                return WeightVerdict.up_to(WeightTransform.FLATTEN_ROW_ORDER)
    gates = gates_of(spec.kind)
    if gates and a.shape[-1] % len(gates) == 0:
        n = len(gates)
        for perm in itertools.permutations(range(n)):
            if perm == tuple(range(n)):
                continue
            if compare_arrays(a, permute_gates(b, perm, n), tol).passed:
                order = ",".join(gates[p] for p in perm)
                return WeightVerdict.up_to(WeightTransform.GATE_ORDER, f"{order} read as {','.join(gates)}", perm)
    return None
