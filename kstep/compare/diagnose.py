"""Provides the diagnosis: known migration causes, each tried by re-running with the fix applied.

A cause is reported as the explanation only when its fix closes the gap below tolerance; every hypothesis tried is
kept with its before/after error, so the report shows what was ruled out. Layer causes re-run the NEW layer alone
on OLD's inputs (isolated); input causes re-run the whole NEW model on the corrected input. When a fact about OLD
was assumed (a Keras 1 file's backend), the alternative is tried too and the `--assume` flag that makes it so is
suggested.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from kstep.analysis import Hypothesis, Row, VerdictKind
from kstep.compare.align import plain_kind
from kstep.compare.effective import effective, flip_spatial, gates_of, permute_gates
from kstep.compare.layout import axis_to_new, dense_rows_to_old, to_old
from kstep.compare.metrics import compare_arrays
from kstep.compare.preprocess import Transform, apply_all
from kstep.compare.trace import collect
from kstep.errors import KstepError
from kstep.ir import Source
from kstep.kinds import KINDS

CONV_KINDS = frozenset(k for k, i in KINDS.items() if i.convolution and i.flipped_by_theano)
"""Convolutions whose kernel Theano flips (from kstep.kinds)."""
NOT_CONFIG = {"units", "filters", "kernel_size", "use_bias", "center", "scale", "return_sequences", "return_state",
              "output_dim", "input_dim", "target_shape", "dims", "n", "size", "cropping", "depth_multiplier"}


def _try(cmp, row: Row, code: str, title: str, action: str, *, weights=None, spec=None, sem=None,
         detail: str = "") -> Hypothesis:
    ro, rn = cmp.old_trace.by_key[row.old.key], cmp.new_trace.by_key[row.new.key]
    before = row.isolated.max_abs if row.isolated is not None else row.propagated.max_abs
    tol = row.propagated.tolerance
    stats = cmp.isolated(ro, rn, tol, weights=weights, spec=spec, sem=sem)
    after = None if stats is None else stats.max_abs
    return Hypothesis(code, title, bool(stats is not None and stats.passed), before, after, action, detail)


def layer_hypotheses(cmp, row: Row) -> list[Hypothesis]:
    """Try every cause that applies to this layer pair; the first that explains is the diagnosis."""
    if row.old is None or row.new is None or row.propagated is None:
        return []
    ro, rn = cmp.old_trace.by_key[row.old.key], cmp.new_trace.by_key[row.new.key]
    if ro.layer.kind == "Model" or rn.layer.kind == "Model":
        return []
    ow = cmp.old_trace.executor.weights_of(ro.layer)
    nw = cmp.new_trace.executor.weights_of(rn.layer)
    kind = rn.layer.kind
    name = row.new.key
    hyps: list[Hypothesis] = []

    if kind in CONV_KINDS and nw:
        flipped = [flip_spatial(nw[0])] + list(nw[1:])
        hyps.append(_try(cmp, row, "theano_kernel_flip", "convolution kernels need flipping between Theano and "
                         "TensorFlow", f"flip the kernels of {name} with keras.utils.conv_utils.convert_kernel "
                         "(kernel[::-1, ::-1]) when moving Theano weights to TensorFlow", weights=flipped))
        if nw[0].ndim == 4 and nw[0].shape[0] == nw[0].shape[1]:
            swapped = [np.ascontiguousarray(np.swapaxes(nw[0], 0, 1))] + list(nw[1:])
            hyps.append(_try(cmp, row, "conv_kernel_layout", "kernel rows and columns swapped",
                             f"transpose the kernel of {name} as (1, 0, 2, 3)", weights=swapped))
    if kind == "Dense" and nw and ro.input_arrays:
        t_old = cmp.old_trace.tag_of(ro.input_arrays[0])
        t_new = cmp.new_trace.tag_of(rn.input_arrays[0])
        if t_old.kind == "flat" and t_new.kind == "flat" and t_old.order != t_new.order:
            # NEW's kernel rows still read OLD's flatten order: re-order them to read NEW's
            hyps.append(_try(cmp, row, "flatten_dense_order", "Dense rows after a Flatten in the other channel order",
                             f"permute the rows of {name}'s kernel from {t_old.order} to {t_new.order} order "
                             "(keras.utils.layer_utils.convert_dense_weights_data_format)",
                             weights=[dense_rows_to_old(nw[0], t_new, t_old)] + list(nw[1:])))
    gates = gates_of(kind)
    if gates and len(nw) >= 2 and nw[0].shape[-1] % len(gates) == 0:
        hyps.extend(_gate_order(cmp, row, nw, gates, name))
    old_p, new_p = ro.layer.params, rn.layer.params
    if kind == "GRU" and old_p.get("reset_after") != new_p.get("reset_after") and ro.layer.kind == "GRU":
        spec = dataclasses.replace(rn.layer, params=dict(new_p, reset_after=old_p.get("reset_after")))
        hyps.append(_try(cmp, row, "gru_reset_after", "GRU reset_after differs (tf.keras 2 and Keras 3 default "
                         "to True)", f"build {name} with reset_after={old_p.get('reset_after')} and OLD's weights",
                         weights=list(ow), spec=spec))
    hyps.extend(_data_format(cmp, row, ro, rn, name))
    for key, a, b in row.config_diff:
        if key in NOT_CONFIG or key == "reset_after" or (key == "axis" and isinstance(a, str)):
            continue
        spec = dataclasses.replace(rn.layer, params=dict(new_p, **{key: a}))
        code = "recurrent_activation" if key == "recurrent_activation" else f"config:{key}"
        title = f"parameter {key} differs: OLD {a!r}, NEW {b!r}"
        sem = cmp.old.semantics if key in ("activation", "recurrent_activation") else None
        hyps.append(_try(cmp, row, code, title, f"set {key}={a!r} on {name}", spec=spec, sem=sem))
    hyps.extend(_hard_sigmoid_formula(cmp, row, rn, name))
    if any(w.verdict.kind is VerdictKind.DIFFERENT for w in row.weights) and ow and len(ow) == len(nw):
        changed = _weights_changed(cmp, row, ro, rn, ow, name)
        if changed is not None:
            hyps.append(changed)
    hyps.extend(_assumed_backend(cmp, row, ro, rn))
    return hyps


def _data_format(cmp, row, ro, rn, name) -> list[Hypothesis]:
    """A layout parameter that contradicts the tensor it reads: an `axis` kept from OLD's other image layout
    (BatchNormalization(axis=1) in a channels_last model), or a `data_format` that is not the one of NEW's input.
    The fix re-runs NEW's layer with the parameter that matches its input."""
    if not ro.input_arrays or not rn.input_arrays:
        return []
    t_old, t_new = cmp.old_trace.in_tags(ro)[0], cmp.new_trace.in_tags(rn)[0]
    params = rn.layer.params
    out = []
    moved = next((a for k, a, _ in row.config_diff if k == "axis" and isinstance(a, str)), None)
    if moved is not None:
        rank = ro.input_arrays[0].ndim
        fixed = axis_to_new(ro.layer.params["axis"], rank, t_old, t_new)
        shown = -1 if fixed == rank - 1 else fixed
        spec = dataclasses.replace(rn.layer, params=dict(params, axis=fixed))
        out.append(_try(cmp, row, "data_format", f"axis={params['axis']} was kept from OLD's {t_old} layout; in "
                        f"NEW's {t_new} layout that axis is {fixed}", f"set axis={shown} on {name} (the same axis "
                        f"in {t_new} order)", spec=spec))
    fmt = params.get("data_format")
    if fmt in ("channels_first", "channels_last") and t_new.kind == "image" and t_new.fmt != fmt:
        spec = dataclasses.replace(rn.layer, params=dict(params, data_format=t_new.fmt))
        out.append(_try(cmp, row, "data_format", f"{name} has data_format={fmt!r} but its input is {t_new}",
                        f"build {name} with data_format={t_new.fmt!r} (the layout of its input)", spec=spec))
    return out


def _gate_order(cmp, row, nw, gates, name) -> list[Hypothesis]:
    n = len(gates)
    best = None
    for perm in itertools.permutations(range(n)):
        if perm == tuple(range(n)):
            continue
        fixed = [permute_gates(w, perm, n) for w in nw[:3]] + list(nw[3:])
        h = _try(cmp, row, "rnn_gate_order", "recurrent gates in another order",
                 f"reorder the gate blocks of {name}'s kernel, recurrent kernel and bias as "
                 f"{','.join(gates[p] for p in perm)} -> {','.join(gates)}", weights=fixed)
        if best is None or (h.after is not None and (best.after is None or h.after < best.after)):
            best = h
        if h.explains:
            return [h]
    return [best] if best else []


def _hard_sigmoid_formula(cmp, row, rn, name) -> list[Hypothesis]:
    """Same config, other maths: Keras 3's hard_sigmoid is clip(x/6+0.5), Keras 1/2/tf.keras's clip(0.2x+0.5)."""
    old_sem, new_sem = cmp.old.semantics, cmp.new.semantics
    if old_sem.hard_sigmoid == new_sem.hard_sigmoid:
        return []
    params = rn.layer.params
    keys = [k for k in ("recurrent_activation", "activation") if params.get(k) == "hard_sigmoid"]
    if not keys:
        return []
    key = keys[0]
    code = "recurrent_activation" if key == "recurrent_activation" else f"config:{key}"
    other = dataclasses.replace(new_sem, generation=old_sem.generation)
    return [_try(cmp, row, code, f"{key}='hard_sigmoid' means clip({new_sem.hard_sigmoid}) in NEW's Keras but "
                 f"clip({old_sem.hard_sigmoid}) in OLD's", f"give {name} an activation computing "
                 f"clip({old_sem.hard_sigmoid.replace('+', ' + ')}, 0, 1) instead of the string 'hard_sigmoid'",
                 sem=other)]


def _weights_changed(cmp, row, ro, rn, ow, name) -> Hypothesis | None:
    """Does NEW's layer, given OLD's weights (in NEW's execution form), reproduce OLD? Then only weights differ.
    (Not tried for a NEW CuDNN layer fed a plain layer's weights: kstep has no plain -> CuDNN conversion.)"""
    if plain_kind(rn.layer.kind) is not None and ro.layer.kind != rn.layer.kind:
        return None
    eff_old = effective(ro.layer, ow, cmp.old.semantics)
    as_new = effective(rn.layer, eff_old, cmp.new.semantics)  # a flip is its own inverse
    if rn.layer.kind == "Dense" and ro.input_arrays:
        t_old = cmp.old_trace.tag_of(ro.input_arrays[0])
        t_new = cmp.new_trace.tag_of(rn.input_arrays[0])
        as_new = [dense_rows_to_old(as_new[0], t_new, t_old)] + as_new[1:]
    h = _try(cmp, row, "weights_changed", "the weights differ and no known transform explains it",
             f"{name}'s weights are not OLD's (retrained or re-initialised?): copy OLD's weights into it",
             weights=as_new)
    return h


def _assumed_backend(cmp, row, ro, rn) -> list[Hypothesis]:
    """When a side's backend was assumed (a Keras 1 file), re-run that side's layer with the other backend."""
    out = []
    for side, model, result in (("old", cmp.old, ro), ("new", cmp.new, rn)):
        fact = next((f for f in model.facts if f.key == "backend"), None)
        theano = dataclasses.replace(model.semantics, backend="theano")
        if fact is None or fact.source is not Source.ASSUMED or not theano.flips_kernel(result.layer.kind):
            continue  # only convolutions compute differently on the two backends
        alt = "tensorflow" if model.semantics.backend == "theano" else "theano"
        sem = dataclasses.replace(model.semantics, backend=alt)
        title = f"{side.upper()}'s backend was assumed ({fact.value}); with {alt} the models agree here"
        code, action = f"assume:{side}.backend={alt}", f"pass --assume {side}.backend={alt}"
        if side == "new":
            h = _try(cmp, row, code, title, action, sem=sem)
            out.append(h)
            continue
        before = row.isolated.max_abs if row.isolated is not None else row.propagated.max_abs
        try:
            res = cmp.old_trace.executor.run_layer(ro.layer, ro.input_arrays, ro.input_masks, sem=sem)
        except KstepError:  # the layer cannot run that way: the alternative does not explain the gap
            continue
        a = res.outputs[0]
        b = to_old(rn.outputs[0], cmp.old_trace.tag_of(ro.outputs[0]), cmp.new_trace.tag_of(rn.outputs[0]))
        stats = compare_arrays(a, b, row.propagated.tolerance)
        out.append(Hypothesis(code, title, stats.passed, before, stats.max_abs, action))
    return out


def input_hypotheses(cmp, row: Row, differing) -> list[Hypothesis]:
    """The inputs differ: try scale, mean and channel-order fixes of NEW's input, verified by re-running NEW."""
    if len(differing) != 1:
        return []
    o, n, stats = differing[0]
    a = cmp.feeds_old[o].astype(np.float64)
    tag_o, tag_n = cmp.in_tags_old[o], cmp.in_tags_new[n]
    b = to_old(cmp.feeds_new[n], tag_o, tag_n).astype(np.float64)
    cf_new = tag_n.fmt == "channels_first"
    candidates: list[tuple[str, str, Transform]] = []
    denom = float(np.sum(a * a))
    if denom > 0:
        s = float(np.sum(a * b) / denom)
        if s != 0 and np.allclose(a * s, b, rtol=1e-4, atol=1e-5 * max(1.0, abs(s))):
            nice = _nice_fraction(1.0 / s)
            candidates.append(("input_scale", f"NEW's input is OLD's times {s:g} (0..255 vs 0..1?)",
                               Transform("scale", (1.0 / s,)) if nice is None else nice))
    axis = 1 if tag_o.fmt == "channels_first" else -1
    if a.ndim >= 3 and np.allclose(np.flip(a, axis=axis), b, rtol=1e-4, atol=1e-5):
        candidates.append(("input_channel_order", "NEW's input has its channels reversed (RGB vs BGR)",
                           Transform("bgr", ())))
    if a.ndim >= 2:
        red = tuple(i for i in range(a.ndim) if i != (axis % a.ndim))
        shift = (b - a).mean(axis=red)
        if np.abs(shift).max() > 0 and np.allclose(a + np.expand_dims(shift, red), b, rtol=1e-4, atol=1e-4):
            candidates.append(("input_scale", "NEW's input is OLD's with a per-channel mean added or subtracted",
                               Transform("mean", tuple(float(v) for v in np.atleast_1d(shift)))))
    hyps = []
    for code, title, transform in candidates:
        feeds = dict(cmp.feeds_new)
        feeds[n] = apply_all(cmp.feeds_new[n], [transform], cf_new)
        trace = collect(cmp.new, feeds)
        rn = trace.by_key.get(row.new.key)
        ro = cmp.old_trace.by_key[row.old.key]
        after = None
        ok = False
        if rn is not None and rn.outputs:
            s2 = compare_arrays(ro.outputs[0], to_old(rn.outputs[0], cmp.old_trace.tag_of(ro.outputs[0]),
                                                      trace.tag_of(rn.outputs[0])), row.propagated.tolerance)
            after, ok = s2.max_abs, s2.passed
        hyps.append(Hypothesis(code, title, ok, row.propagated.max_abs, after, f"pass --pre-new {transform}"))
    return hyps


def _nice_fraction(x: float) -> Transform | None:
    """scale:1/255 rather than scale:0.00392157 when the factor is 1/k or k for an integer k."""
    for k in (255.0, 127.5, 256.0, 128.0, 2.0, 10.0, 100.0):
        if abs(x * k - 1) < 1e-5:
            return Transform("scale", (1.0 / k,))
        if abs(x / k - 1) < 1e-5:
            return Transform("scale", (k,))
    return None
