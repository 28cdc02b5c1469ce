"""Provides the one analysis value that `kstep report` renders and the TUI shows: two models compared layer by layer.

Plain dataclasses, no numerics beyond the numbers they hold, no Textual; where logic branches, a typed value
(`Status`, `Tolerance.origin`, `WeightVerdict`, `Reason`) whose str() is the word the reports show. `compare` fills
them in; `report` (Markdown, JSON, HTML) and `tui` only read them. Shapes are tuples of ints (batch axis included);
errors are absolute/relative differences measured in float64 after mapping NEW's layout onto OLD's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kstep.edits import AppliedFix, Edit
from kstep.errors import ExitCode


class Status(StrEnum):
    """A row's verdict, in the order of severity used for colours and glyphs."""

    AGREE = "agree"  # within tolerance
    NOISE = "noise"  # agrees only within the measured float32 noise (beyond 1e-5, within 10x the noise)
    INHERITED = "inherited"  # differs only because an earlier layer did (propagated differs, isolated agrees)
    DIVERGE = "diverge"  # differs on its own (isolated comparison fails)
    MISMATCH = "mismatch"  # shapes or weights do not match
    UNMATCHED = "unmatched"  # present in one model only
    UNSUPPORTED = "unsupported"  # a kind kstep cannot execute
    PENDING = "pending"  # not computed yet (the analysis is still running)


AGREE, NOISE, INHERITED, DIVERGE = Status.AGREE, Status.NOISE, Status.INHERITED, Status.DIVERGE
MISMATCH, UNMATCHED, UNSUPPORTED, PENDING = Status.MISMATCH, Status.UNMATCHED, Status.UNSUPPORTED, Status.PENDING

STATUSES = tuple(Status)
GLYPHS = {AGREE: "=", NOISE: "≈", INHERITED: "~", DIVERGE: "✗", MISMATCH: "!", UNMATCHED: "?", UNSUPPORTED: "⊘",
          PENDING: "…"}


class ToleranceOrigin(StrEnum):
    """Which rule chose a tolerance; the tolerance policy (kstep.compare.tolerance) branches on it."""

    DEFAULT = "default"  # max(MIN_ATOL, NOISE_FACTOR x the measured float32 noise)
    USER = "user"  # --atol / --rtol (or the debugger's t)
    PER_LAYER = "per_layer"  # --tolerance LAYER=ATOL,RTOL
    WEIGHTS = "weights"  # the default for weights, which have no float32 noise


@dataclass(frozen=True)
class Tolerance:
    """|a - b| <= atol + rtol * |b| elementwise, b = OLD's value. noise_floor: the measured float32 noise.

    source: how the tolerance is shown ('--atol', '--tolerance conv1', 'default: ...'); only rendered, never
    parsed: logic asks `origin`."""

    atol: float
    rtol: float
    source: str = "default"
    noise_floor: float | None = None
    origin: ToleranceOrigin = ToleranceOrigin.DEFAULT

    @property
    def user_given(self) -> bool:
        """The user chose it (--atol/--rtol or --tolerance LAYER), as opposed to a default rule."""
        return self.origin in (ToleranceOrigin.USER, ToleranceOrigin.PER_LAYER)


@dataclass
class Stats:
    """One comparison of two arrays (NEW mapped onto OLD's layout). passed: within `tolerance`."""

    max_abs: float
    max_rel: float
    mean_abs: float
    worst_index: tuple[int, ...] | None
    worst_old: float | None
    worst_new: float | None
    nan_mismatch: int
    passed: bool
    tolerance: Tolerance
    shape_old: tuple[int, ...] = ()
    shape_new: tuple[int, ...] = ()
    excess: float = float("inf")  # max(|Δ| - rtol·|old|): the smallest atol under which it would pass
    samples: int = 0  # samples compared (the batch axis of shape_old); worst_index[0] is an absolute sample index
    samples_beyond: int = 0  # samples with at least one element beyond the tolerance
    nan_old: int = 0  # NaN / inf element counts on each side, over every sample
    nan_new: int = 0
    inf_old: int = 0
    inf_new: int = 0

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "within" if self.passed else "beyond"
        return (f"max|Δ| {self.max_abs:.2e}, max rel {self.max_rel:.2e}, mean|Δ| {self.mean_abs:.2e} "
                f"({verdict} atol {self.tolerance.atol:.1e} + rtol {self.tolerance.rtol:.1e}·|old|)")


@dataclass
class Side:
    """One model's half of a row: the layer (call) as that model has it."""

    key: str  # dump key: NAME, NAME@k, OUTER/INNER
    name: str
    class_name: str
    kind: str
    shape: tuple[int, ...] | None  # first output's shape, once computed
    params: dict = field(default_factory=dict)


class VerdictKind(StrEnum):
    """How two weight arrays compare in effective form."""

    IDENTICAL = "identical"
    WITHIN_TOLERANCE = "equal within tolerance"
    TRANSFORM = "equal up to"  # equal once a known `WeightTransform` is applied
    DIFFERENT = "different"
    SHAPE_MISMATCH = "shape mismatch"
    MISSING = "missing"  # one side has no array at this position


class WeightTransform(StrEnum):
    """A known transform that relates two weight arrays (a migration mistake); the value completes 'equal up to'."""

    SPATIAL_FLIP = "a spatial flip"  # Theano's true convolution: kernel[::-1, ::-1]
    KERNEL_ROWS_COLUMNS = "swapped kernel rows/columns"
    FLATTEN_ROW_ORDER = "flatten row order"  # a Dense kernel after a Flatten read in the other channel order
    GATE_ORDER = "gate order"  # recurrent gate blocks in another order


@dataclass(frozen=True)
class WeightVerdict:
    """One weight array's verdict. str() is the words the reports show ('equal up to a spatial flip'); logic asks
    `ok` and `transform`, never the words. detail: what the words add in brackets (the gate permutation); perm:
    that permutation as data (GATE_ORDER: OLD's block i is NEW's block perm[i]), so a fix can reuse it."""

    kind: VerdictKind
    transform: WeightTransform | None = None
    detail: str = ""
    perm: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind is VerdictKind.TRANSFORM) != (self.transform is not None):
            raise ValueError(f"a {self.kind.name} verdict with transform {self.transform}")

    @classmethod
    def up_to(cls, transform: WeightTransform, detail: str = "", perm: tuple[int, ...] = ()) -> WeightVerdict:
        return cls(VerdictKind.TRANSFORM, transform, detail, perm)

    @property
    def ok(self) -> bool:
        """Identical, or equal within tolerance: nothing to fix."""
        return self.kind in (VerdictKind.IDENTICAL, VerdictKind.WITHIN_TOLERANCE)

    def __str__(self) -> str:
        words = f"{self.kind} {self.transform}" if self.transform is not None else str(self.kind)
        return f"{words} ({self.detail})" if self.detail else words


@dataclass
class WeightDiff:
    """One weight array compared in effective form (a kernel as the cross-correlation actually executed)."""

    name_old: str | None
    name_new: str | None
    shape_old: tuple[int, ...] | None
    shape_new: tuple[int, ...] | None
    verdict: WeightVerdict
    max_abs: float | None = None


@dataclass
class Hypothesis:
    """A known migration cause, tried by re-running with the fix applied. explains: the fix closes the gap."""

    code: str  # theano_kernel_flip, flatten_dense_order, input_scale, ..., config:epsilon
    title: str
    explains: bool
    before: float | None  # max |Δ| before the fix
    after: float | None  # max |Δ| with the fix applied
    action: str = ""  # what the user does ("flip the kernels of conv1 with ...", "pass --pre-new scale:1/255")
    detail: str = ""
    edits: tuple[Edit, ...] = ()  # the fix as edits of NEW's file alone (what the re-run applied), when it is one
    unfixable: str = ""  # why `kstep fix` cannot write this fix into NEW's file (when it explains and has no edits)


@dataclass
class Row:
    """One aligned layer pair (or a layer present in one model only) in OLD's execution order."""

    index: int
    old: Side | None
    new: Side | None
    status: Status
    propagated: Stats | None = None
    isolated: Stats | None = None
    weights: list[WeightDiff] = field(default_factory=list)
    config_diff: list[tuple[str, object, object]] = field(default_factory=list)
    layout: str = "same"  # how NEW's output was mapped for comparison ('same', 'nhwc->nchw', ...)
    note: str = ""

    @property
    def side(self) -> Side:
        """The side that names the row: OLD's, else NEW's (a row has at least one)."""
        side = self.old or self.new
        assert side is not None, "a row has at least one side"
        return side

    @property
    def name(self) -> str:
        return self.side.key

    @property
    def weights_ok(self) -> bool:
        """Every weight array identical or equal within tolerance (also when the pair has no weights)."""
        return all(w.verdict.ok for w in self.weights)


@dataclass
class FileInfo:
    """One compared file: as given on the command line, its digest, writer and the facts kstep assumed."""

    path: str
    sha256: str
    keras_version: str | None
    backend: str | None
    generation: str
    detected_backend: str
    assumptions: list[tuple[str, object, str, str]]  # (key, value, source, why)


class Reason(StrEnum):
    """What first differs at the first divergence."""

    INPUT = "input"  # the two reference inputs differ
    SHAPE = "shape"  # output shapes differ after layout mapping
    WEIGHTS = "weights"  # a weight array differs
    ACTIVATION = "activation"  # same shapes and weights, different outputs
    UNSUPPORTED = "unsupported"  # a layer kstep cannot execute stops the comparison
    ARCHITECTURE = "architecture"  # a layer present in one model only


@dataclass
class FirstDivergence:
    """Where the models first part over the sample set, and why (only causes a re-run verified). row: the earliest
    row (OLD's order) at which any sample diverges; sample: the (absolute) index of the first sample diverging there,
    the one the diagnosis ran on (None when no sample is involved: an unsupported or unmatched layer);
    samples_diverging: how many of the compared samples diverge at that row."""

    row: int
    old_layer: str | None
    new_layer: str | None
    reason: Reason
    cause: str | None  # the verified cause code, or None when no hypothesis closes the gap
    hypotheses: list[Hypothesis] = field(default_factory=list)
    summary: str = ""
    sample: int | None = None
    samples_diverging: int = 0

    @property
    def explanation(self) -> Hypothesis | None:
        """The verified hypothesis that names the cause (None when nothing explains the gap)."""
        return next((h for h in self.hypotheses if h.explains and h.code == self.cause), None)


@dataclass
class SampleVerdict:
    """One sample's final outputs (OLD's first model output and NEW's): do they agree, the largest |Δ| there, the
    top-1 class of each side (2-D output with at least one unit) and the top-5 (when the output is a distribution
    of at least 5 classes), and first_row: the earliest row at which this sample's propagated comparison fails."""

    sample: int
    outputs_agree: bool
    top1_old: int | None
    top1_new: int | None
    max_abs: float | None = None
    top5_old: tuple[int, ...] | None = None
    top5_new: tuple[int, ...] | None = None
    first_row: int | None = None

    @property
    def top1_flipped(self) -> bool:
        """The top-1 class differs."""
        return self.top1_old is not None and self.top1_old != self.top1_new

    @property
    def top5_changed(self) -> bool:
        """The set of the top-5 classes differs (order aside)."""
        return (self.top5_old is not None and self.top5_new is not None
                and set(self.top5_old) != set(self.top5_new))


@dataclass(frozen=True)
class SampleSet:
    """Which samples were compared and how. count: samples compared; first: the absolute index (in the reference
    file) of the first one; noise_samples: how many (the first ones) the float64 noise run used; chunk: samples per
    chunk after the first; chunks: how many chunks ran; max_memory: the budget in bytes; notes: what the planner
    decided (e.g. one sample at a time because the weights alone exceed the budget)."""

    count: int = 1
    first: int = 0
    noise_samples: int = 1
    chunk: int = 1
    chunks: int = 1
    max_memory: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Heatmaps:
    """The first divergent layer's output on one sample, as three small maps of its worst channel (filled by
    kstep.compare.heatmap, which documents the shapes; the HTML report draws them). Maps are rows of floats, at
    most 64 x 64 cells, NaN/inf kept. sample: absolute index; channel: the channel drawn (None: a vector, no
    channel axis); fixed: for a volume, the indices on the spatial axes before the drawn plane; shape: the plane
    (height, width) before downsampling (a vector or sequence: one row); step: the block size downsampled by (OLD
    and NEW: block means, |Δ|: block maxima); lo/hi: the finite range of OLD and NEW together (one scale for
    both); delta_max: the largest finite |Δ| cell (|Δ|'s scale is 0..delta_max)."""

    row: int
    layer: str
    sample: int
    channel: int | None
    fixed: tuple[int, ...]
    shape: tuple[int, int]
    step: tuple[int, int]
    old: tuple[tuple[float, ...], ...]
    new: tuple[tuple[float, ...], ...]
    delta: tuple[tuple[float, ...], ...]
    lo: float
    hi: float
    delta_max: float


@dataclass
class Analysis:
    """Everything one comparison found. Rows are in OLD's execution order, NEW-only rows where they align."""

    old: FileInfo
    new: FileInfo
    kstep_version: str
    command: list[str]
    tolerance: Tolerance
    rows: list[Row]
    first_divergence: FirstDivergence | None
    verdicts: list[SampleVerdict] = field(default_factory=list)
    input_notes: list[str] = field(default_factory=list)
    complete: bool = True  # False while the TUI's worker is still filling rows
    samples: SampleSet = field(default_factory=SampleSet)
    fixes: list[AppliedFix] = field(default_factory=list)  # `kstep fix`: what was applied to NEW (OLD vs FIXED)
    heatmaps: Heatmaps | None = None  # the first divergent layer's worst channel on its sample (HTML report)

    @property
    def agree(self) -> bool:
        return self.first_divergence is None and not any(r.status == UNSUPPORTED for r in self.rows)


def exit_code(analysis: Analysis) -> ExitCode:
    """The verdict's exit code, the same for every command that compares (report, fix, convert): DIVERGE when the
    first divergence is anything but an unsupported layer (the models part at or before it), else UNSUPPORTED when
    the comparison met a layer kstep cannot execute (as the first divergence, or as a row past which nothing could
    be compared: differing inputs whose effect had not shown before it), else OK."""
    first = analysis.first_divergence
    if first is not None and first.reason != Reason.UNSUPPORTED:
        return ExitCode.DIVERGE
    if first is not None or any(row.status == UNSUPPORTED for row in analysis.rows):
        return ExitCode.UNSUPPORTED
    return ExitCode.OK
