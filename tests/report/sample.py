"""A fixed, hand-built Analysis for the golden-file tests of the report writers (rendering only)."""

from kstep.analysis import (
    AGREE,
    DIVERGE,
    INHERITED,
    UNMATCHED,
    Analysis,
    FileInfo,
    FirstDivergence,
    Hypothesis,
    Reason,
    Row,
    SampleSet,
    SampleVerdict,
    Side,
    Stats,
    Tolerance,
    WeightDiff,
    WeightTransform,
    WeightVerdict,
)
from kstep.edits import AppliedFix, Edit, FixOp

TOL = Tolerance(1e-5, 1e-4, "default: max(1e-5, 10x float32 noise)", noise_floor=2.4e-7)
HOSTILE = "[bold red]X[/] <script>alert(1)</script> `tick` \x1b]52;c;aGk=\x07"


def stats(max_abs, passed, shape=(2, 4, 8, 8)):
    return Stats(max_abs, max_abs / 2, max_abs / 10, (1, 3, 2, 1)[:len(shape)] if max_abs else None,
                 0.412 if max_abs else None, -0.249 if max_abs else None, 0, passed, TOL, shape, shape,
                 samples=shape[0], samples_beyond=0 if passed else 1, nan_old=0 if passed else 3)


def sample_analysis() -> Analysis:
    old = FileInfo("old.h5", "a" * 64, "1.2.2", None, "keras1", "theano",
                   [("backend", "theano", "assumed", "none of the 12 weight names ends in ':0'")])
    new = FileInfo("new.h5", "b" * 64, "2.21.0", "tensorflow", "tf.keras", "tensorflow", [])
    rows = [
        Row(0, Side("conv1", "conv1", "Convolution2D", "Conv2D", (2, 4, 8, 8)),
            Side("conv1", "conv1", "Conv2D", "Conv2D", (2, 8, 8, 4)), DIVERGE, stats(0.662, False),
            stats(0.662, False), [WeightDiff("conv1_W", "conv1/kernel:0", (3, 3, 3, 4), (3, 3, 3, 4),
                                             WeightVerdict.up_to(WeightTransform.SPATIAL_FLIP), 0.52)], [],
            "nhwc->nchw"),
        Row(1, Side("bn1", "bn1", "BatchNormalization", "BatchNormalization", (2, 4, 8, 8)),
            Side("bn1", "bn1", "BatchNormalization", "BatchNormalization", (2, 8, 8, 4)), INHERITED,
            stats(0.81, False), stats(0.0, True), [], [], "nhwc->nchw"),
        Row(2, Side(HOSTILE, HOSTILE, "Dense", "Dense", (2, 4)), Side("fc", "fc", "Dense", "Dense", (2, 4)), AGREE,
            stats(0.0, True, (2, 4)), stats(0.0, True, (2, 4))),
        Row(3, Side("drop", "drop", "Dropout", "Dropout", (2, 4)), None, UNMATCHED, note="present in OLD only"),
    ]
    flip = Edit("conv1", FixOp.FLIP_SPATIAL, weights=(0,), names=("kernel", "bias"))
    hyps = [Hypothesis("theano_kernel_flip", "convolution kernels need flipping between Theano and TensorFlow",
                       True, 0.662, 0.0, "flip the kernels of conv1 with keras.utils.conv_utils.convert_kernel",
                       edits=(flip,)),
            Hypothesis("conv_kernel_layout", "kernel rows and columns swapped", False, 0.662, 0.666,
                       "transpose the kernel of conv1 as (1, 0, 2, 3)")]
    first = FirstDivergence(0, "conv1", "conv1", Reason.WEIGHTS, "theano_kernel_flip", hyps,
                            "weight conv1/kernel:0: equal up to a spatial flip", sample=1, samples_diverging=1)
    return Analysis(old, new, "0.1.0", ["kstep", "report", "old.h5", "new.h5", "ref.npy"], TOL, rows, first,
                    [SampleVerdict(0, True, 2, 2, 3e-6, (2, 0, 1, 3, 4), (2, 0, 1, 4, 3)),
                     SampleVerdict(1, False, 3, 1, 0.41, (3, 1, 0, 2, 4), (1, 3, 0, 2, 5), 0)],
                    ["NEW input 'input_1' is the reference transposed NCHW -> NHWC"],
                    samples=SampleSet(2, 0, 2, 2, 1, 2 * 2**30, ("a planner note",)))


def fixed_analysis() -> Analysis:
    """What `kstep fix` reports: the sample analysis (as OLD vs FIXED) with two fixes applied, one on a layer with
    a hostile name."""
    a = sample_analysis()
    a.fixes = [AppliedFix("theano_kernel_flip", "convolution kernels need flipping between Theano and TensorFlow",
                          "conv1", (Edit("conv1", FixOp.FLIP_SPATIAL, weights=(0,), names=("kernel", "bias")),),
                          0.662, 0.0),
               AppliedFix("config:epsilon", "parameter epsilon differs", HOSTILE,
                          (Edit(HOSTILE, FixOp.SET_CONFIG, key="epsilon", value=0.001),), 3.4, None)]
    return a
