"""Provides the one analysis value that `kstep report` renders and the TUI shows: two models compared layer by layer.

Plain frozen-ish dataclasses, no numerics beyond the numbers they hold, no Textual. `compare` fills them in;
`report` (Markdown, JSON, HTML) and `tui` only read them. Shapes are tuples of ints (batch axis included);
errors are absolute/relative differences measured in float64 after mapping NEW's layout onto OLD's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Row statuses, in the order of severity used for colours and glyphs.
AGREE = "agree"            # = within tolerance
NOISE = "noise"            # agrees only within the measured float32 noise (beyond 1e-5, within 10x the noise)
INHERITED = "inherited"    # differs only because an earlier layer did (propagated differs, isolated agrees)
DIVERGE = "diverge"        # differs on its own (isolated comparison fails)
MISMATCH = "mismatch"      # shapes or weights do not match
UNMATCHED = "unmatched"    # present in one model only
UNSUPPORTED = "unsupported"  # a kind kstep cannot execute
PENDING = "pending"        # not computed yet (the analysis is still running)

STATUSES = (AGREE, NOISE, INHERITED, DIVERGE, MISMATCH, UNMATCHED, UNSUPPORTED, PENDING)
GLYPHS = {AGREE: "=", NOISE: "≈", INHERITED: "~", DIVERGE: "✗", MISMATCH: "!", UNMATCHED: "?", UNSUPPORTED: "⊘",
          PENDING: "…"}


@dataclass
class Tolerance:
    """|a - b| <= atol + rtol * |b| elementwise, b = OLD's value. noise_floor: the measured float32 noise."""

    atol: float
    rtol: float
    source: str = "default"  # default | --atol/--rtol | --tolerance LAYER
    noise_floor: float | None = None


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


@dataclass
class WeightDiff:
    """One weight array compared in effective form (a kernel as the cross-correlation actually executed)."""

    name_old: str | None
    name_new: str | None
    shape_old: tuple[int, ...] | None
    shape_new: tuple[int, ...] | None
    verdict: str  # identical | equal up to <transform> | different | shape mismatch | missing
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


@dataclass
class Row:
    """One aligned layer pair (or a layer present in one model only) in OLD's execution order."""

    index: int
    old: Side | None
    new: Side | None
    status: str
    propagated: Stats | None = None
    isolated: Stats | None = None
    weights: list[WeightDiff] = field(default_factory=list)
    config_diff: list[tuple[str, object, object]] = field(default_factory=list)
    layout: str = "same"  # how NEW's output was mapped for comparison ('same', 'nhwc->nchw', ...)
    note: str = ""

    @property
    def name(self) -> str:
        return (self.old or self.new).key


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


@dataclass
class FirstDivergence:
    """Where the models first part, and why (only causes a re-run verified)."""

    row: int
    old_layer: str | None
    new_layer: str | None
    reason: str  # input | shape | weights | activation | unsupported | architecture
    cause: str | None  # the verified cause code, or None when no hypothesis closes the gap
    hypotheses: list[Hypothesis] = field(default_factory=list)
    summary: str = ""


@dataclass
class SampleVerdict:
    """Final outputs per batch sample: do they agree, and does the top-1 class agree."""

    sample: int
    outputs_agree: bool
    top1_old: int | None
    top1_new: int | None


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

    @property
    def agree(self) -> bool:
        return self.first_divergence is None and not any(r.status == UNSUPPORTED for r in self.rows)
