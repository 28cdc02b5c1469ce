"""Provides fixed, hand-built `Analysis` values (and fake compare-side callables) for the TUI's tests.

Nothing here is computed: every number is written out, so snapshots never move when the engine changes. The main
sample is a Keras 1 / Theano model against its tf.keras port whose first divergence is conv1 (kernel flip); it has
a layer named "[bold red]X[/]" and one whose name holds an OSC 52 escape, both of which must render literally.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from kstep.analysis import (
    AGREE,
    DIVERGE,
    INHERITED,
    MISMATCH,
    PENDING,
    UNMATCHED,
    UNSUPPORTED,
    Analysis,
    FileInfo,
    FirstDivergence,
    Hypothesis,
    Row,
    SampleSet,
    SampleVerdict,
    Side,
    Stats,
    Tolerance,
    VerdictKind,
    WeightDiff,
    WeightTransform,
    WeightVerdict,
)
from kstep.edits import Edit, FixOp
from kstep.tui.fixing import FixDone

IDENTICAL = WeightVerdict(VerdictKind.IDENTICAL)
DIFFERENT = WeightVerdict(VerdictKind.DIFFERENT)
FLATTEN_ROWS = WeightVerdict.up_to(WeightTransform.FLATTEN_ROW_ORDER)

MARKUP_NAME = "[bold red]X[/]"
ESCAPE_NAME = "evil\x1b]52;c;aGk=\x07"
TOL = Tolerance(1e-5, 1e-4, "default: max(1e-5, 10x float32 noise)", noise_floor=2.4e-7)


def stats(max_abs: float, max_rel: float, passed: bool, shape=(2, 8, 8, 4), worst=(0, 3, 2, 1),
          old=0.412, new=-0.249) -> Stats:
    return Stats(max_abs, max_rel, max_abs / 7, worst, old, new, 0, passed, TOL, shape, shape)


def side(name: str, kind: str, shape, class_name: str | None = None, **params) -> Side:
    return Side(name, name, class_name or kind, kind, shape, params)


OLD = FileInfo("old.h5", "9f2c" * 16, "1.2.2", "theano", "keras1", "theano",
               [("backend", "theano", "from_file", "stored in the file"),
                ("image_data_format", "channels_first", "assumed", "Keras 1 default dim_ordering 'th'"),
                ("weight_names", "no :0 suffix", "assumed", "Keras 1.2.2 files omit it")])
NEW = FileInfo("new.h5", "1b7e" * 16, "2.15.0", "tensorflow", "tf.keras", "tensorflow", [])


def _rows() -> list[Row]:
    conv = dict(filters=4, kernel_size=(3, 3), strides=(1, 1), padding="same", activation="relu", use_bias=True)
    r = []
    r.append(Row(0, side("input_1", "InputLayer", (2, 8, 8, 3)), side("input_1", "InputLayer", (2, 8, 8, 3)),
                 AGREE, stats(0.0, 0.0, True, (2, 8, 8, 3), None, None, None)))
    r.append(Row(1, side("conv1", "Conv2D", (2, 8, 8, 4), "Convolution2D", **conv, dim_ordering="th"),
                 side("conv1", "Conv2D", (2, 8, 8, 4), **conv, data_format="channels_last"), DIVERGE,
                 stats(0.66, 0.66, False), stats(0.66, 0.66, False),
                 [WeightDiff("conv1_W", "conv1/kernel:0", (4, 3, 3, 3), (3, 3, 3, 4),
                             WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP, "kernel[::-1, ::-1]"), 0.93),
                  WeightDiff("conv1_b", "conv1/bias:0", (4,), (4,), IDENTICAL, 0.0)],
                 [("dim_ordering", "th", None)], "nchw->nhwc"))
    r.append(Row(2, side("bn1", "BatchNormalization", (2, 8, 8, 4), epsilon=1e-3, axis=1),
                 side("bn1", "BatchNormalization", (2, 8, 8, 4), epsilon=1e-3, axis=-1), INHERITED,
                 stats(0.81, 0.40, False), stats(3e-7, 1e-7, True),
                 [WeightDiff("bn1_gamma", "bn1/gamma:0", (4,), (4,), IDENTICAL, 0.0)], [], "nchw->nhwc"))
    r.append(Row(3, side(MARKUP_NAME, "Activation", (2, 8, 8, 4), activation="relu"),
                 side(MARKUP_NAME, "Activation", (2, 8, 8, 4), activation="relu"), INHERITED,
                 stats(0.81, 0.40, False), stats(0.0, 0.0, True), layout="nchw->nhwc"))
    r.append(Row(4, side("pool1", "MaxPooling2D", (2, 4, 4, 4), pool_size=(2, 2)),
                 side("pool1", "MaxPooling2D", (2, 4, 4, 4), pool_size=(2, 2)), INHERITED,
                 stats(0.81, 0.40, False, (2, 4, 4, 4)), stats(0.0, 0.0, True, (2, 4, 4, 4)), layout="nchw->nhwc"))
    r.append(Row(5, side(ESCAPE_NAME, "Conv2D", (2, 2, 2, 6), filters=6, kernel_size=(3, 3), padding="valid"),
                 side(ESCAPE_NAME, "Conv2D", (2, 2, 2, 6), filters=6, kernel_size=(3, 3), padding="valid"), MISMATCH,
                 stats(1.9, 0.91, False, (2, 2, 2, 6)), stats(0.2, 0.1, False, (2, 2, 2, 6)),
                 [WeightDiff("k", "kernel:0", (6, 4, 3, 3), (3, 3, 4, 6), DIFFERENT, 0.35)], [], "nchw->nhwc",
                 "weights differ"))
    r.append(Row(6, side("dropout_1", "Dropout", (2, 2, 2, 6), rate=0.5), None, UNMATCHED,
                 note="present in OLD only"))
    r.append(Row(7, side("flatten_1", "Flatten", (2, 24)), side("flatten", "Flatten", (2, 24)), INHERITED,
                 stats(1.9, 0.91, False, (2, 24), (1, 7)), stats(0.0, 0.0, True, (2, 24), None),
                 layout="flat nchw->nhwc"))
    r.append(Row(8, side("dense_1", "Dense", (2, 16), units=16, activation="relu"),
                 side("fc1", "Dense", (2, 16), units=16, activation="relu"), INHERITED,
                 stats(3.2, 1.0, False, (2, 16), (0, 5)), stats(0.0, 0.0, True, (2, 16), None),
                 [WeightDiff("dense_1_W", "fc1/kernel:0", (24, 16), (24, 16), FLATTEN_ROWS, 1.2)]))
    r.append(Row(9, side("lambda_1", "Lambda", (2, 16)), side("lambda_1", "Lambda", (2, 16)), UNSUPPORTED,
                 note="OLD layer Lambda is unsupported: Python bytecode cannot be executed safely"))
    r.append(Row(10, side("fc2", "Dense", None, units=10), side("fc2", "Dense", None, units=10), PENDING,
                 note="not computed: it depends on an unsupported layer"))
    return r


def _first() -> FirstDivergence:
    return FirstDivergence(1, "conv1", "conv1", "activation", "theano_kernel_flip", [
        Hypothesis("theano_kernel_flip", "Theano convolutions flip the kernel", True, 0.66, 3.1e-7,
                   "flip conv kernels (kernel[::-1, ::-1]) when moving Theano → TensorFlow"),
        Hypothesis("config:epsilon", "a different BatchNormalization epsilon", False, 0.66, 0.66, ""),
        Hypothesis("input_scale", "NEW expects inputs scaled by 1/255", False, 0.66, 0.91,
                   "pass --pre-new scale:1/255"),
    ], "isolated: max|Δ| 6.6e-01 beyond atol 1.0e-05")


def sample() -> Analysis:
    """The complete main sample: first divergence conv1 (theano_kernel_flip)."""
    return Analysis(OLD, NEW, "0.1.0", ["kstep", "old.h5", "new.h5", "ref.npy"], TOL, _rows(), _first(),
                    input_notes=["NEW input 'input_1' is the reference transposed nchw -> nhwc"])


def fixable() -> Analysis:
    """The sample whose verified theano_kernel_flip carries its in-file fix (the edit `x` proposes)."""
    a = sample()
    assert a.first_divergence is not None
    h = a.first_divergence.hypotheses[0]
    a.first_divergence.hypotheses[0] = replace(h, edits=(
        Edit("conv1", FixOp.FLIP_SPATIAL, weights=(0,), names=("kernel", "bias")),))
    return a


def partial(computed: int) -> Analysis:
    """The sample while running: the first `computed` rows judged, the rest pending, no first divergence yet."""
    a = sample()
    rows = []
    for row in a.rows:
        if row.index >= computed:
            row = replace(row, status=PENDING, propagated=None, isolated=None, weights=[], config_diff=[])
        rows.append(row)
    return replace(a, rows=rows, first_divergence=None, complete=False)


def agree() -> Analysis:
    """Three layers that agree."""
    rows = [Row(i, side(n, k, s), side(n, k, s), AGREE, stats(1e-7, 1e-7, True, s, None, None, None),
                stats(1e-7, 1e-7, True, s, None, None, None)) for i, (n, k, s) in
            enumerate([("input_1", "InputLayer", (2, 8)), ("dense", "Dense", (2, 4)), ("out", "Softmax", (2, 4))])]
    return Analysis(OLD, NEW, "0.1.0", [], TOL, rows, None)


def unsupported() -> Analysis:
    """Agree up to an unsupported Lambda, which is where the comparison stops."""
    a = agree()
    rows = a.rows[:2] + [
        Row(2, side("lambda_1", "Lambda", None), side("lambda_1", "Lambda", None), UNSUPPORTED,
            note="OLD layer Lambda is unsupported: Python bytecode cannot be executed safely"),
        Row(3, side("out", "Softmax", None), side("out", "Softmax", None), PENDING,
            note="not computed: it depends on an unsupported layer")]
    fd = FirstDivergence(2, "lambda_1", "lambda_1", "unsupported", "unsupported_layer", [],
                         "OLD layer Lambda is unsupported; the comparison stops here")
    return replace(a, rows=rows, first_divergence=fd)


def many() -> Analysis:
    """The main sample over 12 samples (absolute 0..11): per-sample verdicts written out, in no particular order
    (sample 7 is the worst, 2 and 7 flip their top-1, 5 agrees on everything, 9 has no first failing row)."""
    a = sample()
    v = [SampleVerdict(0, False, 3, 3, 0.41, (3, 1, 0, 4, 2), (3, 1, 0, 4, 2), 1),
         SampleVerdict(1, False, 7, 7, 0.52, (7, 2, 9, 1, 0), (7, 2, 9, 0, 1), 1),
         SampleVerdict(2, False, 4, 6, 1.9, (4, 6, 1, 0, 3), (6, 4, 1, 0, 8), 1),
         SampleVerdict(3, False, 1, 1, 0.08, (1, 0, 2, 3, 4), (1, 0, 2, 3, 4), 2),
         SampleVerdict(4, False, 2, 2, 0.33, (2, 3, 4, 5, 6), (2, 3, 4, 5, 6), 1),
         SampleVerdict(5, True, 0, 0, 2e-7, (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), None),
         SampleVerdict(6, False, 9, 9, 0.61, (9, 8, 7, 6, 5), (9, 8, 7, 6, 5), 1),
         SampleVerdict(7, False, 5, 8, 3.2, (5, 8, 2, 1, 0), (8, 5, 3, 2, 1), 1),
         SampleVerdict(8, False, 6, 6, 0.27, (6, 5, 4, 3, 2), (6, 5, 4, 3, 2), 1),
         SampleVerdict(9, False, 8, 8, 0.05, (8, 7, 6, 5, 4), (8, 7, 6, 5, 4), None),
         SampleVerdict(10, False, 3, 3, 0.44, (3, 2, 1, 0, 9), (3, 2, 1, 0, 9), 1),
         SampleVerdict(11, False, 1, 1, 0.71, (1, 2, 3, 4, 5), (1, 2, 3, 4, 5), 5)]
    a.first_divergence.sample, a.first_divergence.samples_diverging = 0, 9
    return replace(a, verdicts=v, samples=SampleSet(12, 0, 4, 4, 3, 2 << 30))


def stepping_source():
    """A source that fills the sample in row by row: (analysis, (phase, done, total)) per layer, then the result."""
    n = len(sample().rows)

    def source():
        for k in range(1, n + 1):
            yield partial(k), ("compare", k, n)
        yield sample()
    return source


def activations(row_index: int, isolated: bool, sample: int | None = None, progress=None):
    """Deterministic arrays for the Activations tab: conv rows NHWC (1,8,8,4), dense rows (1,16), of `sample` (0..11;
    None: samples 0 and 1 stacked); else None."""
    rng = np.random.default_rng(row_index)
    pick = slice(0, 2) if sample is None else slice(sample, sample + 1)
    if row_index in (1, 2):
        old = np.round(rng.standard_normal((12, 8, 8, 4)), 3).astype(np.float32)[pick]
        new = old.copy()
        new[:, 2:5, 1:4, 3] += 0.66 if not isolated else 0.0
        new[:, 6, 6, 1] -= 0.2
        return old, new
    if row_index == 8:
        old = np.round(rng.standard_normal((12, 16)), 3).astype(np.float32)[pick]
        new = old + np.linspace(0, 3.2, 16, dtype=np.float32)
        return old, new, -1
    return None


class FakeCompare:
    """Records what the app asked of the compare side: retolerance and export calls."""

    def __init__(self, analysis: Analysis | None = None):
        self.analysis = analysis or sample()
        self.retolerance_calls: list[tuple[float, float]] = []
        self.exports: list[tuple[str, str]] = []
        self.fixes: list[tuple[str, str | None]] = []
        self.fix_done: FixDone | None = None  # what fix() answers; None: FIXED written at the path asked for

    def retolerance(self, atol: float, rtol: float):
        """The snapshots of a re-run (every row pending again, then filled in with progress) that pretends the new
        tolerance makes every judged row agree (the real one runs the comparison again)."""
        self.retolerance_calls.append((atol, rtol))
        done = self.rejudged(atol, rtol)
        n = len(done.rows)
        for k in range(n):
            yield replace(partial(k), tolerance=done.tolerance), ("compare", k, n)
        yield done

    def rejudged(self, atol: float, rtol: float) -> Analysis:
        a = copy.deepcopy(self.analysis)
        a.tolerance = Tolerance(atol, rtol, "t (in the app)")
        for row in a.rows:
            if row.status in (INHERITED, DIVERGE):
                row.status = AGREE
        bad = next((r for r in a.rows if r.status in (DIVERGE, MISMATCH)), None)
        a.first_divergence = None if bad is None else FirstDivergence(
            bad.index, bad.old.key, bad.new.key, "weights", None, [], bad.note)
        return a

    def export(self, analysis: Analysis, fmt: str, path: str) -> None:
        self.exports.append((fmt, path))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{fmt} report, first divergence row "
                     f"{analysis.first_divergence.row if analysis.first_divergence else None}\n")

    def fix_targets(self) -> tuple[str, str | None]:
        return "models/new.fixed.h5", None

    def fix(self, path: str, arch: str | None, progress) -> FixDone:
        """Record the request, report one round, answer `fix_done` (default: written)."""
        self.fixes.append((path, arch))
        progress("round 1: theano_kernel_flip at conv1: flip the spatial axes of conv1's kernel")
        return self.fix_done or FixDone(0, path, (f"wrote {path}",))
