"""Provides the layer diagnosis: `LAYER_CAUSES`, the known migration causes, each tried by re-running with the fix.

A cause is reported as the explanation only when its fix closes the gap below tolerance; every hypothesis tried is
kept with its before/after error, so the report shows what was ruled out. Each `Cause` says when it applies to a
layer pair and how it is tried: NEW's layer re-run alone on OLD's inputs (kstep.compare.probe.LayerProbe) with
other weights, another spec or other semantics. When a fact about a file was assumed (a Keras 1 file's backend),
the alternative is tried too and the `--assume` flag that makes it so is suggested. The causes are tried in list
order and the first that explains is the diagnosis, so the order matters; a new cause is one function and one
entry. Input causes: kstep.compare.input_causes.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from kstep.analysis import Hypothesis, Row, VerdictKind
from kstep.compare import cause_padding, fixes
from kstep.compare.align import plain_kind
from kstep.compare.config_diff import axis_key
from kstep.compare.effective import effective, gates_of
from kstep.compare.layout import axis_to_new, dense_rows_to_old
from kstep.compare.probe import LayerProbe
from kstep.edits import Edit, FixOp
from kstep.ir import LayerSpec, Source
from kstep.kinds import info, weight_names_of
from kstep.semantics import Backend, Semantics

NOT_CONFIG = frozenset({"units", "filters", "kernel_size", "use_bias", "center", "scale", "return_sequences",
                        "return_state", "output_dim", "input_dim", "target_shape", "dims", "n", "size", "cropping",
                        "depth_multiplier"})
"""Parameters that change the weights' shapes or the output's structure: re-running with OLD's value is no fix."""


@dataclass(frozen=True)
class Cause:
    """A known migration cause: `applies` to a layer pair, and `tries` it (each hypothesis verified by a re-run)."""

    name: str
    applies: Callable[[LayerProbe, Row], bool]
    tries: Callable[[LayerProbe, Row], list[Hypothesis]]


def _try(p: LayerProbe, row: Row, code: str, title: str, action: str, *, weights: Sequence[np.ndarray] | None = None,
         spec: LayerSpec | None = None, sem: Semantics | None = None, edits: Sequence[Edit] = (),
         unfixable: str = "") -> Hypothesis:
    """NEW's layer re-run with the fix; it explains when the isolated comparison then passes. With `edits` (a fix
    of NEW's file alone), the re-run uses exactly the weights and spec those edits give NEW's layer."""
    if edits:
        if any(not e.is_config for e in edits):
            weights = fixes.edited_weights(edits, p.new_weights)
        spec = fixes.edited_spec(edits, p.new_spec)
    stats = p.isolated(weights=weights, spec=spec, sem=sem)
    after = None if stats is None else stats.max_abs
    return Hypothesis(code, title, bool(stats is not None and stats.passed), _before(row), after, action,
                      edits=tuple(edits), unfixable=unfixable)


def _name(row: Row) -> str:
    """The NEW layer call the action names."""
    return row.new.key if row.new is not None else row.name


def _edit(p: LayerProbe, row: Row, op: FixOp, weights: tuple[int, ...], args: tuple[object, ...] = ()) -> Edit:
    """A weight edit of NEW's layer, with its canonical weight names for the reports."""
    names = weight_names_of(p.new_spec.kind, p.new_spec.params)
    return Edit(_name(row), op, weights=weights, args=args, names=tuple(names or ()))


def _before(row: Row) -> float | None:
    """The gap a fix must close: the isolated error, else the propagated one."""
    if row.isolated is not None:
        return row.isolated.max_abs
    return None if row.propagated is None else row.propagated.max_abs


def _flipped_conv(p: LayerProbe, row: Row) -> bool:
    """A convolution whose kernel Theano flips, with weights."""
    kind_info = info(p.new_spec.kind)
    return kind_info is not None and kind_info.convolution and bool(kind_info.flipped_by_theano) and bool(p.new_weights)


def _theano_kernel_flip(p: LayerProbe, row: Row) -> list[Hypothesis]:
    return [_try(p, row, "theano_kernel_flip", "convolution kernels need flipping between Theano and TensorFlow",
                 f"flip the kernels of {_name(row)} with keras.utils.conv_utils.convert_kernel "
                 "(kernel[::-1, ::-1]) when moving Theano weights to TensorFlow",
                 edits=[_edit(p, row, FixOp.FLIP_SPATIAL, (0,))])]


def _square_2d_kernel(p: LayerProbe, row: Row) -> bool:
    if not _flipped_conv(p, row):
        return False
    kernel = p.new_weights[0]
    return kernel.ndim == 4 and kernel.shape[0] == kernel.shape[1]


def _conv_kernel_layout(p: LayerProbe, row: Row) -> list[Hypothesis]:
    return [_try(p, row, "conv_kernel_layout", "kernel rows and columns swapped",
                 f"transpose the kernel of {_name(row)} as (1, 0, 2, 3)",
                 edits=[_edit(p, row, FixOp.SWAP_ROWS_COLUMNS, (0,))])]


def _dense_after_flatten_orders(p: LayerProbe, row: Row) -> bool:
    """A Dense layer reading a Flatten whose element order differs between the models."""
    if p.new_spec.kind != "Dense" or not p.new_weights or p.in_tags is None:
        return False
    t_old, t_new = p.in_tags
    return t_old.kind == "flat" and t_new.kind == "flat" and t_old.order != t_new.order


def _flatten_dense_order(p: LayerProbe, row: Row) -> list[Hypothesis]:
    assert p.in_tags is not None
    t_old, t_new = p.in_tags
    # NEW's kernel rows still read OLD's flatten order: re-order them to read NEW's
    return [_try(p, row, "flatten_dense_order", "Dense rows after a Flatten in the other channel order",
                 f"permute the rows of {_name(row)}'s kernel from {t_old.order} to {t_new.order} order "
                 "(keras.utils.layer_utils.convert_dense_weights_data_format)",
                 edits=[_edit(p, row, FixOp.FLATTEN_ROWS, (0,), fixes.flatten_rows_args(t_old, t_new))])]


def _has_gates(p: LayerProbe, row: Row) -> bool:
    gates, nw = gates_of(p.new_spec.kind), p.new_weights
    return bool(gates) and len(nw) >= 2 and nw[0].shape[-1] % len(gates) == 0


def _rnn_gate_order(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Every other order of the gate blocks; the first that explains, else the one closest to OLD."""
    gates, nw = gates_of(p.new_spec.kind), p.new_weights
    n = len(gates)
    best = None
    for perm in itertools.permutations(range(n)):
        if perm == tuple(range(n)):
            continue
        edit = _edit(p, row, FixOp.PERMUTE_GATES, tuple(range(min(3, len(nw)))), perm)
        h = _try(p, row, "rnn_gate_order", "recurrent gates in another order",
                 f"reorder the gate blocks of {_name(row)}'s kernel, recurrent kernel and bias as "
                 f"{','.join(gates[i] for i in perm)} -> {','.join(gates)}", edits=[edit])
        if best is None or (h.after is not None and (best.after is None or h.after < best.after)):
            best = h
        if h.explains:
            return [h]
    return [best] if best else []


def _gru_reset_after_differs(p: LayerProbe, row: Row) -> bool:
    return (p.new_spec.kind == "GRU" and p.old_spec.kind == "GRU"
            and p.old_spec.params.get("reset_after") != p.new_spec.params.get("reset_after"))


def _gru_reset_after(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """First NEW's file edited alone (reset_after set to OLD's value; a (2, 3u) bias summed into one row for
    reset_after=False), else NEW's layer built like OLD's with OLD's weights (which no edit of NEW's file gives)."""
    old_value, name = p.old_spec.params.get("reset_after"), _name(row)
    title = "GRU reset_after differs (tf.keras 2 and Keras 3 default to True)"
    nw = p.new_weights
    edits = [Edit(name, FixOp.SET_CONFIG, key="reset_after", value=old_value)]
    if old_value is False and len(nw) == 3 and nw[2].ndim == 2:
        edits.append(_edit(p, row, FixOp.SUM_GRU_BIASES, (2,)))
    if old_value is False:
        in_file = _try(p, row, "gru_reset_after", title, f"set reset_after={old_value} on {name}" + (
            " and sum its bias's two rows" if len(edits) > 1 else ""), edits=edits)
        if in_file.explains:
            return [in_file]
    spec = dataclasses.replace(p.new_spec, params=dict(p.new_spec.params, reset_after=old_value))
    return [_try(p, row, "gru_reset_after", title, f"build {name} with reset_after={old_value} and OLD's weights",
                 weights=list(p.old_weights), spec=spec, unfixable=f"editing {name}'s reset_after and bias alone does "
                 "not reproduce OLD (its weights are not OLD's in the other form); it needs OLD's weights")]


def _reads_inputs(p: LayerProbe, row: Row) -> bool:
    return p.in_tags is not None


def _data_format(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """A layout parameter that contradicts the tensor it reads: an `axis` kept from OLD's other image layout
    (BatchNormalization(axis=1), Concatenate(axis=1) or Keras 1's merge(mode='concat', concat_axis=1) in a
    channels_last model), or a `data_format` that is not the one of NEW's input. The fix re-runs NEW's layer with
    the parameter that matches its input."""
    assert p.in_tags is not None and p.in_rank is not None
    t_old, t_new = p.in_tags
    name, params = _name(row), p.new_spec.params
    out = []
    moved = next((a for k, a, _ in row.config_diff if k == "axis" and isinstance(a, str)), None)
    old_key, new_key = axis_key(p.old_spec.params), axis_key(params)
    if moved is not None and old_key is not None and new_key is not None:
        fixed = axis_to_new(p.old_spec.params[old_key], p.in_rank, t_old, t_new)
        shown = -1 if fixed == p.in_rank - 1 else fixed
        was = "" if old_key == new_key else f" (OLD's {old_key}={p.old_spec.params[old_key]})"
        out.append(_try(p, row, "data_format", f"{new_key}={params[new_key]} was kept from OLD's {t_old} layout{was};"
                        f" in NEW's {t_new} layout that axis is {fixed}", f"set {new_key}={shown} on {name} (the same "
                        f"axis in {t_new} order)", edits=[Edit(name, FixOp.SET_CONFIG, key=new_key, value=shown)]))
    fmt = params.get("data_format")
    if fmt in ("channels_first", "channels_last") and t_new.kind == "image" and t_new.fmt != fmt:
        out.append(_try(p, row, "data_format", f"{name} has data_format={fmt!r} but its input is {t_new}",
                        f"build {name} with data_format={t_new.fmt!r} (the layout of its input)",
                        edits=[Edit(name, FixOp.SET_CONFIG, key="data_format", value=t_new.fmt)]))
    return out


def _has_config_diff(p: LayerProbe, row: Row) -> bool:
    return bool(row.config_diff)


def _config_params(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Each differing parameter (except structural ones) set to OLD's value; an activation also runs with OLD's
    semantics (its formula may be version-dependent)."""
    out = []
    for key, a, b in row.config_diff:
        if key in NOT_CONFIG or key == "reset_after" or (key == "axis" and isinstance(a, str)):
            continue
        param = (axis_key(p.new_spec.params) or key) if key == "axis" else key  # a Merge's axis is concat_axis
        code = "recurrent_activation" if key == "recurrent_activation" else f"config:{param}"
        title, action = f"parameter {param} differs: OLD {a!r}, NEW {b!r}", f"set {param}={a!r} on {_name(row)}"
        edits = [Edit(_name(row), FixOp.SET_CONFIG, key=param, value=a)]
        h = _try(p, row, code, title, action, edits=edits)
        if not h.explains and key in ("activation", "recurrent_activation") and p.old_sem != p.new_sem:
            # the name may compute another formula in NEW's Keras: OLD's formula closes the gap, no value in
            # NEW's file gives it
            spec = fixes.edited_spec(edits, p.new_spec)
            h = _try(p, row, code, title, action, spec=spec, sem=p.old_sem, unfixable=(
                f"{a!r} computes another formula in NEW's Keras ({p.new_sem.generation}) than in OLD's "
                f"({p.old_sem.generation}); no value of {param} in NEW's file reproduces OLD"))
        out.append(h)
    return out


def _hard_sigmoid_keys(p: LayerProbe) -> list[str]:
    return [k for k in ("recurrent_activation", "activation") if p.new_spec.params.get(k) == "hard_sigmoid"]


def _hard_sigmoid_differs(p: LayerProbe, row: Row) -> bool:
    return p.old_sem.hard_sigmoid != p.new_sem.hard_sigmoid and bool(_hard_sigmoid_keys(p))


def _hard_sigmoid_formula(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Same config, other maths: Keras 3's hard_sigmoid is clip(x/6+0.5), Keras 1/2/tf.keras's clip(0.2x+0.5)."""
    old_sem, new_sem = p.old_sem, p.new_sem
    key = _hard_sigmoid_keys(p)[0]
    code = "recurrent_activation" if key == "recurrent_activation" else f"config:{key}"
    other = dataclasses.replace(new_sem, generation=old_sem.generation)
    return [_try(p, row, code, f"{key}='hard_sigmoid' means clip({new_sem.hard_sigmoid}) in NEW's Keras but "
                 f"clip({old_sem.hard_sigmoid}) in OLD's", f"give {_name(row)} an activation computing "
                 f"clip({old_sem.hard_sigmoid.replace('+', ' + ')}, 0, 1) instead of the string 'hard_sigmoid'",
                 sem=other, unfixable=f"NEW's Keras ({new_sem.generation}) has no built-in activation computing "
                 f"clip({old_sem.hard_sigmoid}, 0, 1); it needs a custom activation, which a file cannot carry")]


def _variance_index(p: LayerProbe) -> int | None:
    """Where NEW's BatchNormalization keeps moving_variance: last of its canonical weights (after the optional gamma
    and beta, and moving_mean), when both sides hold as many arrays of the same shapes."""
    ow, nw = p.old_weights, p.new_weights
    kind_info = info(p.new_spec.kind)
    if (p.new_spec.kind != "BatchNormalization" or p.old_spec.kind != p.new_spec.kind or kind_info is None
            or not kind_info.weights or kind_info.weights[-1].name != "moving_variance" or not nw or len(ow) != len(nw)
            or any(a.shape != b.shape for a, b in zip(ow, nw))):
        return None
    return len(nw) - 1


def _bn_variance_transform(p: LayerProbe) -> tuple[str, np.ndarray] | None:
    """How NEW's moving_variance relates to OLD's ('squared' or 'square root'), and NEW's array fixed, when it is
    one of Keras 1.2.2's running_std mistakes (the array holds the variance despite its name)."""
    i = _variance_index(p)
    if i is None:
        return None
    a = np.asarray(p.old_weights[i], dtype=np.float64)
    b = np.asarray(p.new_weights[i], dtype=np.float64)
    if a.size == 0 or not (np.all(np.isfinite(a)) and np.all(a >= 0) and np.all(np.isfinite(b))):
        return None
    if np.allclose(a, b, rtol=1e-5, atol=1e-8):
        return None
    dtype = p.new_weights[i].dtype
    if np.allclose(b, a * a, rtol=1e-4, atol=1e-7):
        return "squared", np.sqrt(np.maximum(b, 0)).astype(dtype)
    if np.allclose(b, np.sqrt(a), rtol=1e-4, atol=1e-7):
        return "square root", np.square(b).astype(dtype)
    return None


def _bn_variance_differs(p: LayerProbe, row: Row) -> bool:
    return _bn_variance_transform(p) is not None


def _bn_running_std(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Keras 1.2.2 stores BatchNormalization's variance under the name running_std; a converter that took the name
    at its word squared it (or took its square root). Re-run NEW's layer with the moving_variance undone."""
    found = _bn_variance_transform(p)
    i = _variance_index(p)
    assert found is not None and i is not None
    how, _ = found
    op = FixOp.SQRT if how == "squared" else FixOp.SQUARE
    return [_try(p, row, "bn_running_std", f"NEW's moving_variance is OLD's {how} (Keras 1.2.2's running_std "
                 "already holds the variance)", f"{op} {_name(row)}'s moving_variance (copy OLD's running_std "
                 "into it unchanged)", edits=[_edit(p, row, op, (i,))])]


def _weights_differ(p: LayerProbe, row: Row) -> bool:
    """Some weight is 'different' (no known transform), both sides have as many arrays, and OLD's can be given to
    NEW's layer (kstep has no plain -> CuDNN conversion, so not for a NEW CuDNN layer fed a plain one's)."""
    ow, nw = p.old_weights, p.new_weights
    return (any(w.verdict.kind is VerdictKind.DIFFERENT for w in row.weights) and bool(ow) and len(ow) == len(nw)
            and not (plain_kind(p.new_spec.kind) is not None and p.old_spec.kind != p.new_spec.kind))


def _weights_changed(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Does NEW's layer, given OLD's weights (in NEW's execution form), reproduce OLD? Then only weights differ."""
    eff_old = effective(p.old_spec, p.old_weights, p.old_sem)
    as_new = effective(p.new_spec, eff_old, p.new_sem)  # a flip is its own inverse
    if p.new_spec.kind == "Dense" and p.in_tags is not None:
        t_old, t_new = p.in_tags
        as_new = [dense_rows_to_old(as_new[0], t_new, t_old)] + as_new[1:]
    h = _try(p, row, "weights_changed", "the weights differ and no known transform explains it",
             f"{_name(row)}'s weights are not OLD's (retrained or re-initialised?): copy OLD's weights into it",
             weights=as_new, unfixable="other weights may be an intended retraining; kstep fix copies OLD's "
             f"weights only when asked: --accept-old-weights {_name(row)}")
    assert row.old is not None  # the edits `--accept-old-weights` applies: OLD's effective weights, rows re-read
    edits = [_edit(p, row, FixOp.OLD_WEIGHTS, tuple(range(len(p.new_weights))), (row.old.key,))]
    if p.new_spec.kind == "Dense" and p.in_tags is not None:
        t_old, t_new = p.in_tags
        if t_old.kind == t_new.kind == "flat" and t_old.order != t_new.order and t_old.spatial == t_new.spatial:
            edits.append(_edit(p, row, FixOp.FLATTEN_ROWS, (0,), fixes.flatten_rows_args(t_old, t_new)))
    h.edits = tuple(edits)
    return [h]


def _always(p: LayerProbe, row: Row) -> bool:
    return True


def _assumed_backend(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """When a side's backend was assumed (a Keras 1 file), re-run that side's layer with the other backend."""
    out = []
    for side, sem, facts, spec in (("old", p.old_sem, p.old_facts, p.old_spec),
                                   ("new", p.new_sem, p.new_facts, p.new_spec)):
        fact = next((f for f in facts if f.key == "backend"), None)
        theano = dataclasses.replace(sem, backend=Backend.THEANO)
        if fact is None or fact.source is not Source.ASSUMED or not theano.flips_kernel(spec.kind):
            continue  # only convolutions compute differently on the two backends
        alt = Backend.TENSORFLOW if sem.backend is Backend.THEANO else Backend.THEANO
        other = dataclasses.replace(sem, backend=alt)
        title = f"{side.upper()}'s backend was assumed ({fact.value}); with {alt} the models agree here"
        code, action = f"assume:{side}.backend={alt}", f"pass --assume {side}.backend={alt}"
        why = f"{side.upper()}'s backend is a fact kstep assumed, not something in NEW's file: {action}"
        if side == "new":
            out.append(_try(p, row, code, title, action, sem=other, unfixable=why))
            continue
        stats = p.old_rerun(other)
        if stats is None:  # the layer cannot run that way: the alternative does not explain the gap
            continue
        out.append(Hypothesis(code, title, stats.passed, _before(row), stats.max_abs, action, unfixable=why))
    return out


LAYER_CAUSES: tuple[Cause, ...] = (
    Cause("theano_kernel_flip", _flipped_conv, _theano_kernel_flip),
    Cause("theano_same_padding", cause_padding.applies, cause_padding.tries),
    Cause("conv_kernel_layout", _square_2d_kernel, _conv_kernel_layout),
    Cause("flatten_dense_order", _dense_after_flatten_orders, _flatten_dense_order),
    Cause("rnn_gate_order", _has_gates, _rnn_gate_order),
    Cause("gru_reset_after", _gru_reset_after_differs, _gru_reset_after),
    Cause("data_format", _reads_inputs, _data_format),
    Cause("config_params", _has_config_diff, _config_params),
    Cause("hard_sigmoid_formula", _hard_sigmoid_differs, _hard_sigmoid_formula),
    Cause("bn_running_std", _bn_variance_differs, _bn_running_std),
    Cause("weights_changed", _weights_differ, _weights_changed),
    Cause("assumed_backend", _always, _assumed_backend),
)
"""The layer causes in the order they are tried (the first that explains is the reported cause)."""


def layer_hypotheses(p: LayerProbe, row: Row) -> list[Hypothesis]:
    """Try every cause that applies to this layer pair, in LAYER_CAUSES order."""
    if row.old is None or row.new is None or row.propagated is None:
        return []
    if p.old_spec.kind == "Model" or p.new_spec.kind == "Model":
        return []
    return [h for cause in LAYER_CAUSES if cause.applies(p, row) for h in cause.tries(p, row)]
