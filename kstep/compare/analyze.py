"""Provides `Comparison`: two model files and a reference input -> the `Analysis` (kstep.analysis).

Steps (each yields progress, so the TUI can show rows as they fill in): run OLD and NEW in float32 keeping every
layer's output, re-run both in float64 for each layer's numeric noise floor, align the layers, and judge every
row: shapes, weights in effective form, propagated activations (each model fed its own upstream outputs) and
isolated activations (the NEW layer fed OLD's inputs, so a layer is blamed only for what it adds). Then find the
first divergence and try the known migration causes on it (kstep.compare.diagnose).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from kstep import __version__
from kstep.analysis import (AGREE, DIVERGE, INHERITED, MISMATCH, NOISE, PENDING, UNMATCHED, UNSUPPORTED, Analysis, FileInfo,
                            FirstDivergence, Reason, Row, SampleVerdict, Side, Stats, Tolerance, ToleranceOrigin,
                            WeightTransform, WeightVerdict)
from kstep.compare import diagnose
from kstep.compare.align import Item, align
from kstep.compare.effective import compare_weights
from kstep.compare.layout import Tag, axis_to_new, describe, input_tag, output_tag, to_new, to_old
from kstep.compare.metrics import compare_arrays, max_abs
from kstep.compare.preprocess import Transform, apply_all
from kstep.compare.pending import (MIN_ATOL, file_info, pending_row, shown_tolerance, static_items,
                                   static_side)
from kstep.compare.trace import Trace, _consumers, start_trace, step_trace
from kstep.engine.executor import LayerResult
from kstep.errors import BadInput, KstepError
from kstep.io.inputs import read_reference
from kstep.io.load import open_model
from kstep.ir import ModelFile
from kstep.kinds import kinds_where

DEFAULT_RTOL = 1e-4
NOISE_FACTOR = 10.0
IDENTITY_KINDS = kinds_where("identity")


@dataclass
class Options:
    """What `kstep report` / the app were asked for, besides the three files."""

    atol: float | None = None
    rtol: float = DEFAULT_RTOL
    per_layer: dict[str, tuple[float, float]] = field(default_factory=dict)
    forced: dict[str, str] = field(default_factory=dict)
    pre_old: list[Transform] = field(default_factory=list)
    pre_new: list[Transform] = field(default_factory=list)
    noise: bool = True
    assume_old: dict[str, str] = field(default_factory=dict)
    assume_new: dict[str, str] = field(default_factory=dict)
    weights_old: str | None = None
    weights_new: str | None = None


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Comparison:
    """Open both models and the reference input(s); `run()` computes, `analysis()` returns the current state."""

    def __init__(self, old_path: str, new_path: str, ref_path: str, ref_new_path: str | None = None,
                 options: Options | None = None, command: list[str] | None = None):
        self.options = options or Options()
        self.command = list(command or [])
        self.notes: list[str] = []
        self.old = open_model(old_path, self.options.weights_old, self.options.assume_old)
        try:
            self.new = open_model(new_path, self.options.weights_new, self.options.assume_new)
        except BaseException:
            self.old.close()
            raise
        try:
            self._read_inputs(ref_path, ref_new_path)
        except BaseException:
            self.close()
            raise
        self.old_info = file_info(self.old, old_path)
        self.new_info = file_info(self.new, new_path)
        self.rows: list[Row] = []
        self.first: FirstDivergence | None = None
        self.verdicts: list[SampleVerdict] = []
        self.done = False
        self.old_trace: Trace | None = None
        self.new_trace: Trace | None = None
        self.noise: dict[tuple[str, str], float] = {}
        self.pairs: list[tuple[Item | None, Item | None]] = []
        self.iso_cache: dict[int, list[np.ndarray] | None] = {}
        self.first_checked = False
        self.inputs_differing: list = []
        self.lock = threading.RLock()  # run() in a worker thread vs retolerance() from the app

    def close(self) -> None:
        self.old.close()
        self.new.close()

    # -- inputs ------------------------------------------------------------------------------------------------
    def _read_inputs(self, ref_path: str, ref_new_path: str | None) -> None:
        feeds_old = read_reference(ref_path, self.old.model, self.notes)
        old_names = [r.layer for r in self.old.model.inputs]
        new_names = [r.layer for r in self.new.model.inputs]
        if len(old_names) != len(new_names):
            raise BadInput(f"OLD has {len(old_names)} inputs and NEW has {len(new_names)}; kstep pairs inputs "
                           "by position")
        self.in_tags_old = {n: input_tag(_consumers(self.old.model, n), feeds_old[n].ndim) for n in old_names}
        if ref_new_path:
            feeds_new = read_reference(ref_new_path, self.new.model, self.notes)
        else:
            feeds_new = {}
            for o, n in zip(old_names, new_names):
                tag_new = input_tag(_consumers(self.new.model, n), feeds_old[o].ndim)
                x = to_new(feeds_old[o], self.in_tags_old[o], tag_new)
                if x is not feeds_old[o]:
                    self.notes.append(f"NEW input '{n}' is the reference transposed {self.in_tags_old[o]} -> "
                                      f"{tag_new}")
                feeds_new[n] = x
        self.in_tags_new = {n: input_tag(_consumers(self.new.model, n), feeds_new[n].ndim) for n in new_names}
        for names, feeds, tags, pre, side in ((old_names, feeds_old, self.in_tags_old, self.options.pre_old, "OLD"),
                                              (new_names, feeds_new, self.in_tags_new, self.options.pre_new, "NEW")):
            for name in names:
                x = feeds[name]
                if pre:
                    x = apply_all(x, pre, tags[name].fmt == "channels_first")
                    self.notes.append(f"{side} input '{name}': applied {', '.join(str(t) for t in pre)}")
                if x.dtype.kind == "f" and x.dtype != np.float32:
                    self.notes.append(f"{side} input '{name}' ({x.dtype}) cast to float32")
                if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                    self.notes.append(f"warning: {side} input '{name}' contains NaN or Inf")
                feeds[name] = x
        self.feeds_old, self.feeds_new = feeds_old, feeds_new
        self.input_pairs = list(zip(old_names, new_names))

    # -- tolerance ---------------------------------------------------------------------------------------------
    def tolerance_for(self, o: Item | None, n: Item | None) -> Tolerance:
        for item in (o, n):
            if item is not None:
                for k in (item.key, item.name):
                    if k in self.options.per_layer:
                        atol, rtol = self.options.per_layer[k]
                        return Tolerance(atol, rtol, f"--tolerance {k}", origin=ToleranceOrigin.PER_LAYER)
        noise = max(self.noise.get(("old", o.key), 0.0) if o else 0.0,
                    self.noise.get(("new", n.key), 0.0) if n else 0.0)
        if self.options.atol is not None:
            return Tolerance(self.options.atol, self.options.rtol, "--atol", noise, ToleranceOrigin.USER)
        return Tolerance(max(MIN_ATOL, NOISE_FACTOR * noise), self.options.rtol,
                         "default: max(1e-5, 10x float32 noise)", noise_floor=noise)

    def weight_tolerance(self, row_tol: Tolerance) -> Tolerance:
        """Weights have no float32 noise: the user's atol/rtol, else 1e-5 and rtol."""
        if row_tol.user_given:
            return Tolerance(row_tol.atol, row_tol.rtol, row_tol.source, origin=row_tol.origin)
        return Tolerance(MIN_ATOL, row_tol.rtol, "default for weights", origin=ToleranceOrigin.WEIGHTS)

    # -- running -----------------------------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[str, int, int]]:
        """Compute everything in layer order; yields (phase, done, total) after each row.

        The four runs (OLD and NEW in float32, and in float64 for the noise floor) advance in lockstep with the
        rows, so the first rows (and the first divergence) are known long before a big model has finished.
        """
        with self.lock:  # a restart starts from nothing
            self.rows, self.first, self.first_checked, self.done = [], None, False, False
            self.iso_cache, self.noise, self.verdicts = {}, {}, []
        self.pairs = align(static_items(self.old.model), static_items(self.new.model), self.options.forced)
        for info, mf in ((self.old_info, self.old), (self.new_info, self.new)):
            info.sha256 = sha256(mf.path)
        self.old_trace = start_trace(self.old, self.feeds_old)
        self.new_trace = start_trace(self.new, self.feeds_new)
        runs = {"old": _Runner(self.old_trace), "new": _Runner(self.new_trace)}
        if self.options.noise:
            # float64 twins, kept only for the noise statistic: they cast the float32 runs' weights and drop
            # every array once it is used (a ResNet50 report otherwise holds ~1 GB more)
            runs["old64"] = _Runner(start_trace(self.old, self.feeds_old, "float64",
                                                self.old_trace.executor, transient=True))
            runs["new64"] = _Runner(start_trace(self.new, self.feeds_new, "float64",
                                                self.new_trace.executor, transient=True))
        self.inputs_differing = self.inputs_differ()
        total = len(self.pairs)
        for i, (o, n) in enumerate(self.pairs):
            for side, item in (("old", o), ("new", n)):
                if item is None:
                    continue
                r32 = runs[side].until(item.key)
                r64 = runs[side + "64"].until(item.key) if self.options.noise else None
                if r32 is not None and r64 is not None and r32.outputs and r64.outputs:
                    self.noise[(side, item.key)] = max(max_abs(a, b) for a, b in zip(r64.outputs, r32.outputs))
                if r64 is not None:
                    r64.outputs, r64.input_arrays, r64.pre_activation = [], [], None
            with self.lock:
                row = self.judge_row(i, o, n)
                self.rows.append(row)
                if self.first is None and not self.first_checked:
                    self.first = self.check_first(row)
            yield ("compare", i + 1, total)
        for runner in runs.values():
            runner.finish()
        self.first_checked = True
        with self.lock:
            _name_the_others(self.first, self.rows)
        self.verdicts = self.final_verdicts()
        self.done = True

    def judge_row(self, index: int, o: Item | None, n: Item | None) -> Row:
        ot, nt = self.old_trace, self.new_trace
        ro = ot.by_key.get(o.key) if o else None
        rn = nt.by_key.get(n.key) if n else None
        row = Row(index, _side(ro) or static_side(o), _side(rn) or static_side(n), PENDING)
        if o is None or n is None:
            row.status = UNMATCHED
            row.note = "present in OLD only" if n is None else "present in NEW only"
            return row
        if ro is None or rn is None:
            row.note = "not computed: it depends on an unsupported layer"
            return row
        if ro.unsupported or rn.unsupported:
            row.status = UNSUPPORTED
            bad = ro if ro.unsupported else rn
            row.note = f"{'OLD' if bad is ro else 'NEW'} layer {bad.layer.class_name} is unsupported: {bad.unsupported}"
            return row
        if ro.skipped or rn.skipped or not ro.outputs or not rn.outputs:
            row.note = "not computed: it depends on an unsupported layer"
            return row
        tol = self.tolerance_for(o, n)
        tag_o, tag_n = ot.out_tag(ro), nt.out_tag(rn)
        row.layout = describe(tag_o, tag_n)
        row.propagated = self._compare_outputs(ro, rn, ot, nt, tol)
        rank = ro.outputs[0].ndim if ro.outputs else None
        in_tags = (ot.in_tags(ro)[0], nt.in_tags(rn)[0]) if ro.input_arrays and rn.input_arrays else None
        if in_tags is not None:
            rank = ro.input_arrays[0].ndim
        row.config_diff = config_diff(ro.layer.params, rn.layer.params, rank, row.layout != "same", in_tags)
        if ro.layer.kind != "Model" and rn.layer.kind != "Model":
            if ro.layer.weights or rn.layer.weights:
                in_o = ot.in_tags(ro)[0] if ro.input_arrays else Tag()
                in_n = nt.in_tags(rn)[0] if rn.input_arrays else Tag()
                row.weights = compare_weights(ro.layer, ot.executor.weights_of(ro.layer), self.old.semantics, in_o,
                                              rn.layer, nt.executor.weights_of(rn.layer), self.new.semantics, in_n,
                                              self.weight_tolerance(tol))
            if index not in self.iso_cache:
                self.iso_cache[index] = self.isolated_outputs(ro, rn)
            mapped = self.iso_cache[index]
            row.isolated = None if mapped is None else _worst(ro.outputs, mapped, tol)
        shapes_ok = row.propagated.shape_old == row.propagated.shape_new
        weights_ok = row.weights_ok
        if not shapes_ok:
            row.status = MISMATCH
            row.note = f"shape {row.propagated.shape_old} vs {row.propagated.shape_new} (after layout mapping)"
        elif row.isolated is not None and not row.isolated.passed:
            row.status = DIVERGE
        elif not weights_ok:
            row.status = MISMATCH
            row.note = "weights differ"
        elif not row.propagated.passed:
            row.status = INHERITED if row.isolated is not None else DIVERGE
        elif tol.origin is ToleranceOrigin.DEFAULT and row.propagated.excess > MIN_ATOL:
            row.status = NOISE  # passes only because the measured float32 noise widened atol
        else:
            row.status = AGREE
        return row

    def _compare_outputs(self, ro: LayerResult, rn: LayerResult, ot: Trace, nt: Trace, tol: Tolerance) -> Stats:
        mapped = [to_old(b, ot.tag_of(a), nt.tag_of(b)) for a, b in zip(ro.outputs, rn.outputs)]
        worst = _worst(ro.outputs, mapped, tol)
        if len(ro.outputs) != len(rn.outputs):
            worst.passed = False
        return worst

    def isolated_outputs(self, ro: LayerResult, rn: LayerResult, weights=None, spec=None,
                         sem=None) -> list[np.ndarray] | None:
        """Run NEW's layer on OLD's inputs (mapped into NEW's layout); its outputs mapped into OLD's layout.
        With another `spec` (a diagnosis), the first output's layout is the one that spec gives it (a changed
        data_format changes it), not the original layer's."""
        ot, nt = self.old_trace, self.new_trace
        if len(ro.input_arrays) != len(rn.input_arrays):
            return None
        inputs = [to_new(x, ot.tag_of(x), nt.tag_of(y)) for x, y in zip(ro.input_arrays, rn.input_arrays)]
        try:
            out = nt.executor.run_layer(spec or rn.layer, inputs, ro.input_masks, weights=weights, sem=sem,
                                        kwargs=rn.layer.calls[rn.call].kwargs)
        except KstepError:
            return None
        tags = [nt.tag_of(b_ref) for b_ref in rn.outputs]
        if spec is not None and out.outputs:
            tags[0] = output_tag(spec, nt.in_tags(rn), [tuple(x.shape) for x in inputs], tuple(out.outputs[0].shape))
        return [to_old(b, ot.tag_of(a), tag) for a, b, tag in zip(ro.outputs, out.outputs, tags)]

    def isolated(self, ro: LayerResult, rn: LayerResult, tol: Tolerance, weights=None, spec=None,
                 sem=None) -> Stats | None:
        """Stats of NEW's layer fed OLD's inputs against OLD's output (None when it cannot be fed)."""
        mapped = self.isolated_outputs(ro, rn, weights, spec, sem)
        return None if mapped is None else _worst(ro.outputs, mapped, tol)

    # -- verdicts ----------------------------------------------------------------------------------------------
    def inputs_differ(self) -> list[tuple[str, str, Stats]]:
        out = []
        tol = Tolerance(MIN_ATOL, self.options.rtol)
        for o, n in self.input_pairs:
            a = self.feeds_old[o]
            b = to_old(self.feeds_new[n], self.in_tags_old[o], self.in_tags_new[n])
            s = compare_arrays(a, b, tol)
            if not s.passed:
                out.append((o, n, s))
        return out

    def find_first_divergence(self) -> FirstDivergence | None:
        """Scan the judged rows in order (used after a change of tolerance)."""
        self.first, self.first_checked = None, False
        self.inputs_differing = self.inputs_differ()
        for row in self.rows:
            self.first = self.check_first(row)
            if self.first is not None or self.first_checked:
                break
        self.first_checked = True
        return self.first

    def check_first(self, row: Row) -> FirstDivergence | None:
        """Is `row` the first divergence? (Rows are checked in order; a found one, or an unsupported row, ends
        the search: `first_checked`.)"""
        differing = self.inputs_differing
        if differing:
            if row.propagated is not None and not row.propagated.passed:
                self.first_checked = True
                hyps = diagnose.input_hypotheses(self, row, differing)
                return _first(row, Reason.INPUT, hyps, "the inputs differ: "
                              + ", ".join(f"{o} vs {n}: {s}" for o, n, s in differing))
            return None
        if row.status == UNSUPPORTED:
            self.first_checked = True
            return FirstDivergence(row.index, _key(row.old), _key(row.new), Reason.UNSUPPORTED, "unsupported_layer",
                                   [], row.note + "; the comparison stops here")
        if row.status == UNMATCHED:
            side = row.old or row.new
            if side.kind in IDENTITY_KINDS:
                return None
            self.first_checked = True
            return FirstDivergence(row.index, _key(row.old), _key(row.new), Reason.ARCHITECTURE,
                                   "architecture_changed", [], f"layer {side.key} ({side.kind}) is {row.note}")
        if row.status in (MISMATCH, DIVERGE):
            self.first_checked = True
            shapes = row.propagated is not None and row.propagated.shape_old != row.propagated.shape_new
            reason = Reason.SHAPE if shapes else Reason.ACTIVATION if row.weights_ok else Reason.WEIGHTS
            return _first(row, reason, diagnose.layer_hypotheses(self, row), _summary(row))
        return None

    def final_verdicts(self) -> list[SampleVerdict]:
        ot, nt = self.old_trace, self.new_trace
        out_keys = set()
        for r in self.old.model.outputs:
            spec = self.old.model.layer(r.layer)
            out_keys.add(r.layer if len(spec.calls) == 1 else f"{r.layer}@{r.call}")
        verdicts = []
        for row in self.rows:
            if not (row.old and row.new and row.old.key in out_keys and row.propagated is not None):
                continue
            a = ot.by_key[row.old.key].outputs[0]
            b = nt.by_key[row.new.key].outputs[0]
            b = to_old(b, ot.tag_of(a), nt.tag_of(b))
            if a.shape != b.shape:
                continue
            tol = row.propagated.tolerance
            for s in range(a.shape[0]):
                ok = compare_arrays(a[s], b[s], tol).passed
                t_old = int(np.argmax(a[s])) if a.ndim == 2 else None
                t_new = int(np.argmax(b[s])) if a.ndim == 2 else None
                verdicts.append(SampleVerdict(s, ok, t_old, t_new))
            break
        return verdicts

    def retolerance(self, atol: float | None, rtol: float) -> Analysis:
        """Judge every row again under a new tolerance, from the kept outputs (the engine does not re-run)."""
        with self.lock:
            self.options.atol, self.options.rtol = atol, rtol
            self.rows = [self.judge_row(i, o, n) for i, (o, n) in enumerate(self.pairs[:len(self.rows)])]
            self.find_first_divergence()
            if self.done:
                _name_the_others(self.first, self.rows)
                self.verdicts = self.final_verdicts()
            else:
                self.first_checked = self.first is not None or self.first_checked
            return self.analysis()

    def arrays(self, index: int, isolated: bool = False) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Row `index`'s first output for the activations view: (OLD's, NEW's mapped into OLD's layout, channel
        axis); with `isolated`, NEW's is the output of NEW's layer fed OLD's inputs. None when not computed."""
        if not 0 <= index < len(self.rows):
            return None
        o, n = self.pairs[index]
        if o is None or n is None or self.old_trace is None:
            return None
        ro, rn = self.old_trace.by_key.get(o.key), self.new_trace.by_key.get(n.key)
        if ro is None or rn is None or not ro.outputs or not rn.outputs:
            return None
        tag = self.old_trace.tag_of(ro.outputs[0])
        axis = 1 if tag.kind == "image" and tag.fmt == "channels_first" else -1
        if isolated:
            mapped = self.iso_cache.get(index)
            return None if not mapped else (ro.outputs[0], mapped[0], axis)
        return ro.outputs[0], to_old(rn.outputs[0], tag, self.new_trace.tag_of(rn.outputs[0])), axis

    def analysis(self) -> Analysis:
        """The current state: judged rows, then the rest as PENDING (while `run()` is still going)."""
        with self.lock:
            return self._analysis()

    def _analysis(self) -> Analysis:
        rows = list(self.rows)
        rows += [pending_row(i, *self.pairs[i]) for i in range(len(rows), len(self.pairs))]
        tol = shown_tolerance(self.options.atol, self.options.rtol)
        return Analysis(old=self.old_info, new=self.new_info, kstep_version=__version__, command=self.command,
                        tolerance=tol, rows=rows, first_divergence=self.first, verdicts=self.verdicts,
                        input_notes=list(self.notes), complete=self.done)


def _worst(olds: list[np.ndarray], news: list[np.ndarray], tol: Tolerance) -> Stats:
    """The worst of several output comparisons: a failing one before a passing one, then the larger error."""
    worst = None
    for a, b in zip(olds, news):
        s = compare_arrays(a, b, tol)
        if worst is None or (worst.passed and not s.passed) or (s.passed == worst.passed and s.max_abs > worst.max_abs):
            worst = s
    return worst


class _Runner:
    """Advances one trace's generator until a given key has been computed."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.steps = step_trace(trace)
        self.exhausted = False

    def until(self, key: str) -> LayerResult | None:
        while key not in self.trace.by_key and not self.exhausted:
            try:
                next(self.steps)
            except StopIteration:
                self.exhausted = True
        return self.trace.by_key.get(key)

    def finish(self) -> None:
        for _ in self.steps:
            pass
        self.exhausted = True


# cause -> the weight verdict that marks the same mistake in other layers
SAME_MISTAKE = {"theano_kernel_flip": WeightTransform.SPATIAL_FLIP,
               "flatten_dense_order": WeightTransform.FLATTEN_ROW_ORDER,
               "rnn_gate_order": WeightTransform.GATE_ORDER,
               "conv_kernel_layout": WeightTransform.KERNEL_ROWS_COLUMNS}


def _name_the_others(first: FirstDivergence | None, rows: list[Row]) -> None:
    """When the verified cause is a weight transform, name every later layer whose weights show the same one."""
    if first is None or first.cause not in SAME_MISTAKE:
        return
    transform = SAME_MISTAKE[first.cause]
    mark = WeightVerdict.up_to(transform)
    others = [r.new.key for r in rows[first.row + 1:] if r.new is not None
              and any(w.verdict.transform is transform for w in r.weights)]
    explained = next((h for h in first.hypotheses if h.explains and h.code == first.cause), None)
    if others and explained is not None and "same fix applies" not in explained.action:
        explained.action += f"; the same fix applies to {', '.join(others)} (weights {mark})"


def _side(result: LayerResult | None) -> Side | None:
    if result is None:
        return None
    shape = tuple(result.outputs[0].shape) if result.outputs else None
    return Side(result.key, result.layer.name, result.layer.class_name, result.layer.kind, shape,
                dict(result.layer.params))


def _key(side: Side | None) -> str | None:
    return None if side is None else side.key


IGNORED_PARAMS = {"name", "trainable", "dtype", "batch_input_shape", "input_shape", "build_config", "data_format",
                  "implementation", "unroll", "stateful", "time_major", "momentum", "dropout", "recurrent_dropout",
                  "seed", "noise_shape", "rate", "mode_type", "output_shape_type", "output_mask_type", "arguments",
                  "output_shape", "output_mask", "sparse", "ragged", "autocast", "input_dim", "input_length"}


def config_diff(old: dict, new: dict, rank: int | None = None, layout_mapped: bool = False,
                in_tags: tuple[Tag, Tag] | None = None) -> list[tuple[str, object, object]]:
    """Parameters whose resolved values differ. Left out: layout-only parameters (layouts are mapped), keys only
    one side's Keras stores, and equivalent spellings (axis -1 vs rank-1, None vs False). An `axis` is compared
    after mapping OLD's input layout onto NEW's (`in_tags`: the two first inputs' tags): axis 1 of an NCHW tensor
    is axis 3 of the NHWC one; OLD's value is then shown with both readings, e.g. '1 (NCHW; = 3 in NHWC)'."""
    out = []
    for key in sorted(set(old) & set(new)):
        if key in IGNORED_PARAMS or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        a, b = old[key], new[key]
        if key == "axis" and (layout_mapped or (in_tags and in_tags[0] != in_tags[1])):
            moved = _axis_moved(a, b, rank, in_tags)
            if moved is not None:
                out.append((key, moved, b))
            continue
        if _norm(a, key, rank) != _norm(b, key, rank):
            out.append((key, a, b))
    return out


def _axis_moved(a, b, rank: int | None, in_tags: tuple[Tag, Tag] | None) -> str | None:
    """OLD's axis `a`, mapped into NEW's input layout, when it is not NEW's axis `b` (None when they agree or
    cannot be told apart: no image layouts on both sides, or axes that are lists)."""
    if not rank or in_tags is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        return None
    t_old, t_new = in_tags
    if t_old.kind != "image" or t_new.kind != "image" or t_old.fmt == t_new.fmt:
        return None
    mapped = axis_to_new(a, rank, t_old, t_new)
    if mapped == b % rank:
        return None
    return f"{a} ({t_old}; = {mapped} in {t_new})"


def _norm(value, key: str = "", rank: int | None = None):
    if key == "axis" and rank:
        values = value if isinstance(value, (list, tuple)) else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return tuple(sorted(v % rank for v in values))
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if value is None:
        return False
    return value


def _first(row: Row, reason: Reason, hyps, summary: str) -> FirstDivergence:
    cause = next((h.code for h in hyps if h.explains), None)
    return FirstDivergence(row.index, _key(row.old), _key(row.new), reason, cause, hyps, summary)


def _summary(row: Row) -> str:
    parts = []
    if row.note:
        parts.append(row.note)
    bad = [w for w in row.weights if not w.verdict.ok]
    for w in bad:
        parts.append(f"weight {w.name_new or w.name_old}: {w.verdict}")
    if row.isolated is not None:
        parts.append(f"isolated: {row.isolated}")
    elif row.propagated is not None:
        parts.append(f"propagated: {row.propagated}")
    for key, a, b in row.config_diff:
        parts.append(f"config {key}: {a!r} vs {b!r}")
    return "; ".join(parts)
