"""Provides `KINDS`: the one table of canonical layer kinds and everything the rest of kstep asks about a kind.

One frozen `KindInfo` per canonical kind (the tf.keras 2 class name, or a Keras-1-only kind such as `Merge`): its
engine family, the stored class names that spell it, its version-independent parameter defaults, its spatial rank,
its weights (canonical names and when each is present), and the flags the reader, engine and comparison branch on.
Everything else derives from here: the reader's aliases and defaults (kstep.io), which kinds pass a mask through
(kstep.engine), layout tags, identity layers, merge pairing, effective weights and the diagnosis (kstep.compare).
A kind with no record is unknown to kstep; tests/engine/test_kind_table.py fails when a registered kernel has no
record or a record has no kernel. Adding a kind: a record here, its kernel in one engine family module, tests
(docs/where-to-change-what.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping

from kstep import weight_shapes as ws


class Family(str, Enum):
    """The engine module (kstep/engine/<family>.py) whose `KERNELS` dict executes the kind."""

    CORE = "core"
    CONV = "conv"
    POOLING = "pooling"
    SPATIAL = "spatial"
    NORMALIZATION = "normalization"
    MERGE = "merge"
    ADVANCED = "advanced"
    RECURRENT = "recurrent"
    WRAPPERS = "wrappers"
    ATTENTION = "attention"
    STRUCTURE = "structure"  # InputLayer, Model: the executor itself handles them


class SpatialParams(Enum):
    """Which spatial parameters the reader turns into `rank`-tuples (kstep.io.params)."""

    NONE = "none"
    KERNEL = "kernel"  # kernel_size, strides, dilation_rate, padding (+ data_format)
    POOL = "pool"  # pool_size, strides, padding
    UPSAMPLE = "upsample"  # size, interpolation
    PAD = "pad"  # padding as (before, after) pairs
    CROP = "crop"  # cropping as (before, after) pairs
    GLOBAL = "global"  # keepdims
    LAYOUT = "layout"  # data_format only (SpatialDropout)


class ConvForm(Enum):
    """How a conv-family kind slides its kernel (decides its extra params and the shape check of its kernel)."""

    NONE = "none"  # not a conv-family kind
    PLAIN = "plain"  # Conv1D/2D/3D: kernel (*kernel_size, in, filters)
    TRANSPOSED = "transposed"  # Conv*Transpose: output_padding (and Keras 1 Deconvolution's output_shape)
    SEPARABLE = "separable"  # depthwise then pointwise: depth_multiplier
    DEPTHWISE = "depthwise"  # depth_multiplier
    LOCAL = "local"  # LocallyConnected: unshared weights, `implementation` decides the stored layout


@dataclass(frozen=True)
class Weight:
    """One canonical weight array: its name, the boolean param that must not be False for it to exist, and whether
    training updates it by gradient (tf.keras lists a model's trainable weights before the others)."""

    name: str
    when: str | None = None
    trainable: bool = True


@dataclass(frozen=True)
class Spelling:
    """How one target Keras writes a kind's tf.keras 2 config (`kstep convert`'s writers, kstep.write.layer_config).

    missing: why the target cannot express the kind at all (None: it can). renames: tf.keras 2 key -> the target's.
    unstated: params kstep's reader fills in that the target's config does not hold, with the only value the target
    computes: omitted when they hold it, else the layer is refused. build: params the target keeps in the layer's
    build_config instead. from_weights: config keys the reader does not keep, read back from a weight's shape as
    (weight index, axis). tensor_kwargs: the names under which a call's tensors after the first are passed.
    unwrap: params the reader makes 1-tuples that the target takes as their one value (UpSampling1D's size).
    extra: keys only this target's config holds (kept by the reader from its files), with the value that computes
    what tf.keras 2 does without them; the tf.keras writer refuses other values. TRAINING_ONLY (in `unstated` or
    `extra`): any value, it only matters in training. fill: keys the target's config must hold, with the value
    written when the params lack them."""

    missing: str | None = None
    renames: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unstated: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    build: tuple[str, ...] = ()
    from_weights: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    tensor_kwargs: tuple[str, ...] = ()
    unwrap: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fill: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


TRAINING_ONLY = "<any value: used in training only>"
"""`Spelling.extra` value of a key that does not change inference (a dropout seed)."""


@dataclass(frozen=True)
class KindInfo:
    """What kstep knows about one canonical layer kind.

    aliases: stored class names (any generation) that run as this kind. defaults: version-independent tf.keras 2
    defaults (version-dependent ones are facts, see kstep.semantics). rank: spatial rank of its tuple params.
    weights: canonical weights in order, or None when the reader does not check them. keeps_layout: the output keeps
    its first input's layout tag while the rank is unchanged. identity: the identity at inference. merge: combines
    several inputs elementwise or by concatenation (pairs with a Keras 1 Merge). flipped_by_theano: indices of the
    weights that Theano's true convolution flips. gates: recurrent gate names in canonical order. plain_kind: the
    plain kind a CuDNN kind migrates to. output_dim_is_units: Keras 1 `output_dim` is this kind's `units`.
    conv_form: how a conv-family kind slides its kernel. keras1_gates: the order of Keras 1's per-gate weight arrays
    (§3.2 of ../shared/docs/keras-formats.md; the reader concatenates them in `gates` order). shapes: the rule
    (kstep.weight_shapes) that checks the canonical weight shapes against the config and each other. tf_keras /
    keras3: how `kstep convert` writes the kind for that target (Keras 3's spelling applies after tf.keras 2's).
    """

    kind: str
    family: Family
    aliases: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    rank: int | None = None
    spatial: SpatialParams = SpatialParams.NONE
    weights: tuple[Weight, ...] | None = ()
    passes_mask: bool = False
    keeps_layout: bool = False
    identity: bool = False
    merge: bool = False
    flipped_by_theano: tuple[int, ...] = ()
    gates: tuple[str, ...] = ()
    plain_kind: str | None = None
    output_dim_is_units: bool = False
    conv_form: ConvForm = ConvForm.NONE
    keras1_gates: tuple[str, ...] = ()
    shapes: ws.ShapeRule | None = None
    tf_keras: Spelling = Spelling()
    keras3: Spelling = Spelling()

    @property
    def convolution(self) -> bool:
        """A kernel-sliding layer of the conv family (Conv*, transposed, separable, depthwise, locally connected)."""
        return self.family is Family.CONV

    @property
    def recurrent(self) -> bool:
        return self.family is Family.RECURRENT

    @property
    def conv_recurrent(self) -> bool:
        """ConvLSTM1D/2D/3D: recurrent, with a convolution's kernel parameters."""
        return self.family is Family.RECURRENT and self.spatial is SpatialParams.KERNEL

    @property
    def fused_activation(self) -> bool:
        """The kind applies an `activation` param (canonicalised even when not stored)."""
        return self.family in (Family.CONV, Family.RECURRENT)

    def weight_names(self, params: Mapping[str, Any]) -> list[str] | None:
        """Canonical names of the weights a layer with `params` stores, in order (None: not checked)."""
        if self.weights is None:
            return None
        return [w.name for w in self.weights if w.when is None or params.get(w.when, True)]


def _defaults(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(values)


def _spell(missing: str | None = None, renames: dict[str, str] | None = None, unstated: dict[str, Any] | None = None,
           build: tuple[str, ...] = (), from_weights: dict[str, tuple[int, int]] | None = None,
           tensor_kwargs: tuple[str, ...] = (), unwrap: tuple[str, ...] = (), extra: dict[str, Any] | None = None,
           fill: dict[str, Any] | None = None) -> Spelling:
    return Spelling(missing, MappingProxyType(renames or {}), MappingProxyType(unstated or {}), build,
                    MappingProxyType(from_weights or {}), tensor_kwargs, unwrap, MappingProxyType(extra or {}),
                    MappingProxyType(fill or {}))


_KERAS1_ONLY = _spell("a Keras 1 layer that tf.keras 2 and Keras 3 do not have (the baking pass rewrites it)")
_CUDNN = _spell("a cuDNN layer (GPU only, not loadable by tf_keras 2's standard loader); the baking pass writes "
                "its plain kind")
_NO_GROUPS_K3 = _spell(unstated={"groups": 1})  # Keras 3's transposed/separable/depthwise convolutions take no groups
_RNN_K3 = _spell(unstated={"time_major": False}, extra={"seed": TRAINING_ONLY})
_QUANTIZED_K3 = _spell(extra={"quantization_config": None})  # Keras 3's int8/float8 quantized kernels
_LAST_1D = {1: {"data_format": "channels_last"}}  # 1-D layers the reader gives a data_format tf.keras's lack
_NOT_CAUSAL = _spell(unstated={"causal": False})  # a default the reader fills; causal masking is a call argument
_SEEDED_K3 = _spell(extra={"seed": TRAINING_ONLY})
_MHA_SHAPES = ("query_shape", "value_shape", "key_shape")  # tf.keras builds from them (None: on the first call)
_NO_OUTPUT_SHAPE = _spell(unstated={"output_shape": None})  # Keras 1 Deconvolution's output_shape (baked away)


_RNN = dict(activation="tanh", use_bias=True, return_sequences=False, return_state=False, go_backwards=False,
            stateful=False, unroll=False, time_major=False)
_BIAS = Weight("bias", "use_bias")
_KERNEL_BIAS = (Weight("kernel"), _BIAS)
_RNN_WEIGHTS = (Weight("kernel"), Weight("recurrent_kernel"), _BIAS)
_CUDNN_WEIGHTS = (Weight("kernel"), Weight("recurrent_kernel"), Weight("bias"))
_SCALE_CENTER = (Weight("gamma", "scale"), Weight("beta", "center"))
_IFCO = ("i", "f", "c", "o")
_ZRH = ("z", "r", "h")
_ICFO = ("i", "c", "f", "o")  # Keras 1 LSTM's stored gate order


def _table() -> dict[str, KindInfo]:
    core, conv, pool, spatial, norm, merge, adv, rnn, wrap, att, struct = (
        Family.CORE, Family.CONV, Family.POOLING, Family.SPATIAL, Family.NORMALIZATION, Family.MERGE,
        Family.ADVANCED, Family.RECURRENT, Family.WRAPPERS, Family.ATTENTION, Family.STRUCTURE)
    K, P = SpatialParams.KERNEL, SpatialParams.POOL
    rows: list[KindInfo] = [
        KindInfo("InputLayer", struct, identity=True, keras3=_spell(renames={"batch_input_shape": "batch_shape"})),
        KindInfo("Model", struct, aliases=("Functional", "Sequential"), weights=None),
        # core
        KindInfo("Dense", core, ("TimeDistributedDense",), _defaults(activation="linear", use_bias=True),
                 weights=_KERNEL_BIAS, passes_mask=True, output_dim_is_units=True, shapes=ws.dense,
                 keras3=_QUANTIZED_K3),
        KindInfo("Activation", core, defaults=_defaults(activation="linear"), passes_mask=True, keeps_layout=True),
        KindInfo("Dropout", core, defaults=_defaults(rate=0.0), passes_mask=True, keeps_layout=True, identity=True),
        *(KindInfo(f"SpatialDropout{r}D", core, rank=r, spatial=SpatialParams.LAYOUT, passes_mask=True,
                   keeps_layout=True, identity=True, tf_keras=_spell(unstated=_LAST_1D.get(r)),
                   keras3=_spell(unstated={"trainable": TRAINING_ONLY, "noise_shape": TRAINING_ONLY}))
          for r in (1, 2, 3)),
        *(KindInfo(k, core, passes_mask=True, keeps_layout=True, identity=True)
          for k in ("GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")),
        KindInfo("Flatten", core),
        KindInfo("Reshape", core),
        KindInfo("Permute", core),
        KindInfo("RepeatVector", core),
        KindInfo("Masking", core, defaults=_defaults(mask_value=0.0), keeps_layout=True),
        KindInfo("Embedding", core, defaults=_defaults(mask_zero=False), weights=(Weight("embeddings"),),
                 shapes=ws.embedding, keras3=_QUANTIZED_K3,  # Keras 1's dropout= acted in training only
                 tf_keras=_spell(from_weights={"input_dim": (0, 0)}, unstated={"dropout": TRAINING_ONLY})),
        KindInfo("Rescaling", core, defaults=_defaults(offset=0.0), keeps_layout=True),
        KindInfo("Normalization", core, keeps_layout=True, weights=None),
        KindInfo("CenterCrop", core, keras3=_spell(extra={"data_format": "channels_last"})),
        KindInfo("Highway", core, defaults=_defaults(activation="linear"), passes_mask=True,
                 weights=(Weight("W"), Weight("W_carry"), Weight("b", "use_bias"), Weight("b_carry", "use_bias")),
                 output_dim_is_units=True, shapes=ws.highway, tf_keras=_KERAS1_ONLY),
        KindInfo("EinsumDense", core, defaults=_defaults(activation="linear", bias_axes=None),
                 weights=(Weight("kernel"), Weight("bias", "bias_axes")), shapes=ws.einsum_dense,
                 keras3=_QUANTIZED_K3),
        KindInfo("MaxoutDense", core, defaults=_defaults(nb_feature=4), passes_mask=True,
                 weights=(Weight("W"), Weight("b", "use_bias")), output_dim_is_units=True, shapes=ws.maxout_dense,
                 tf_keras=_KERAS1_ONLY),
        # conv
        *(KindInfo(f"Conv{r}D", conv, (f"Convolution{r}D",) + (("AtrousConvolution%dD" % r,) if r < 3 else ()),
                   rank=r, spatial=K, weights=_KERNEL_BIAS, flipped_by_theano=(0,), conv_form=ConvForm.PLAIN,
                   shapes=ws.conv(r))
          for r in (1, 2, 3)),
        KindInfo("Conv1DTranspose", conv, rank=1, spatial=K, weights=_KERNEL_BIAS, flipped_by_theano=(0,),
                 conv_form=ConvForm.TRANSPOSED, shapes=ws.conv_transpose(1), tf_keras=_NO_OUTPUT_SHAPE,
                 keras3=_NO_GROUPS_K3),
        KindInfo("Conv2DTranspose", conv, ("Deconvolution2D", "Convolution2DTranspose"), rank=2, spatial=K,
                 weights=_KERNEL_BIAS, flipped_by_theano=(0,), conv_form=ConvForm.TRANSPOSED,
                 shapes=ws.conv_transpose(2), tf_keras=_NO_OUTPUT_SHAPE, keras3=_NO_GROUPS_K3),
        KindInfo("Conv3DTranspose", conv, ("Deconvolution3D",), rank=3, spatial=K, weights=_KERNEL_BIAS,
                 flipped_by_theano=(0,), conv_form=ConvForm.TRANSPOSED, shapes=ws.conv_transpose(3),
                 tf_keras=_NO_OUTPUT_SHAPE, keras3=_NO_GROUPS_K3),
        *(KindInfo(f"SeparableConv{r}D", conv, (f"SeparableConvolution{r}D",), rank=r, spatial=K,
                   weights=(Weight("depthwise_kernel"), Weight("pointwise_kernel"), _BIAS),
                   conv_form=ConvForm.SEPARABLE, shapes=ws.separable(r), keras3=_NO_GROUPS_K3) for r in (1, 2)),
        KindInfo("DepthwiseConv1D", conv, rank=1, spatial=K, weights=(Weight("depthwise_kernel"), _BIAS),
                 conv_form=ConvForm.DEPTHWISE, shapes=ws.depthwise(1), keras3=_NO_GROUPS_K3),
        KindInfo("DepthwiseConv2D", conv, ("DepthwiseConvolution2D",), rank=2, spatial=K,
                 weights=(Weight("depthwise_kernel"), _BIAS), conv_form=ConvForm.DEPTHWISE, shapes=ws.depthwise(2),
                 keras3=_NO_GROUPS_K3),
        *(KindInfo(f"LocallyConnected{r}D", conv, rank=r, spatial=K, weights=_KERNEL_BIAS, conv_form=ConvForm.LOCAL,
                   shapes=ws.local(r), tf_keras=_spell(unstated={"dilation_rate": (1,) * r, "groups": 1}),
                   keras3=_spell("Keras 3 has no LocallyConnected layers"))
          for r in (1, 2)),
        # pooling
        *(KindInfo(f"MaxPooling{r}D", pool, (f"MaxPool{r}D",), rank=r, spatial=P) for r in (1, 2, 3)),
        *(KindInfo(f"AveragePooling{r}D", pool, (f"AvgPool{r}D",), rank=r, spatial=P) for r in (1, 2, 3)),
        *(KindInfo(f"Global{op}Pooling{r}D", pool, (f"Global{short}Pool{r}D",), rank=r,
                   spatial=SpatialParams.GLOBAL)
          for op, short in (("Max", "Max"), ("Average", "Avg")) for r in (1, 2, 3)),
        # spatial
        *(KindInfo(f"UpSampling{r}D", spatial, rank=r, spatial=SpatialParams.UPSAMPLE,
                   tf_keras=_spell(unstated={} if r == 2 else {"interpolation": "nearest"} | _LAST_1D.get(r, {}),
                                   unwrap=("size",) if r == 1 else ()))
          for r in (1, 2, 3)),
        *(KindInfo(f"ZeroPadding{r}D", spatial, rank=r, spatial=SpatialParams.PAD,
                   tf_keras=_spell(unstated=_LAST_1D.get(r), unwrap=("padding",) if r == 1 else ()))
          for r in (1, 2, 3)),
        *(KindInfo(f"Cropping{r}D", spatial, rank=r, spatial=SpatialParams.CROP,
                   tf_keras=_spell(unstated=_LAST_1D.get(r), unwrap=("cropping",) if r == 1 else ()))
          for r in (1, 2, 3)),
        # normalization
        KindInfo("BatchNormalization", norm, defaults=_defaults(axis=-1, center=True, scale=True),
                 weights=_SCALE_CENTER + (Weight("moving_mean", trainable=False),
                                          Weight("moving_variance", trainable=False)),
                 passes_mask=True, keeps_layout=True, shapes=ws.batch_norm, tf_keras=_spell(unstated={"mode": 0})),
        KindInfo("LayerNormalization", norm, defaults=_defaults(axis=-1, epsilon=1e-3, center=True, scale=True),
                 weights=_SCALE_CENTER, passes_mask=True, keeps_layout=True, shapes=ws.layer_norm,
                 keras3=_spell(extra={"rms_scaling": False})),
        KindInfo("UnitNormalization", norm, defaults=_defaults(axis=-1), passes_mask=True, keeps_layout=True),
        KindInfo("GroupNormalization", norm, defaults=_defaults(groups=32, axis=-1, epsilon=1e-3, center=True,
                                                               scale=True),
                 weights=_SCALE_CENTER, passes_mask=True, keeps_layout=True, shapes=ws.group_norm),
        # merge
        *(KindInfo(k, merge, keeps_layout=True, merge=True)
          for k in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")),
        KindInfo("Concatenate", merge, defaults=_defaults(axis=-1), keeps_layout=True, merge=True),
        KindInfo("Dot", merge, defaults=_defaults(normalize=False), merge=True),
        KindInfo("Merge", merge, defaults=_defaults(mode="sum", concat_axis=-1, dot_axes=-1), keeps_layout=True,
                 merge=True, tf_keras=_KERAS1_ONLY),
        # advanced activations
        KindInfo("LeakyReLU", adv, defaults=_defaults(alpha=0.3), passes_mask=True, keeps_layout=True,
                 keras3=_spell(renames={"alpha": "negative_slope"})),
        KindInfo("ELU", adv, defaults=_defaults(alpha=1.0), passes_mask=True, keeps_layout=True),
        KindInfo("ThresholdedReLU", adv, defaults=_defaults(theta=1.0), passes_mask=True, keeps_layout=True,
                 keras3=_spell("Keras 3 has no ThresholdedReLU (its ReLU(threshold=) keeps x == theta, "
                               "ThresholdedReLU zeroes it)")),
        KindInfo("ReLU", adv, defaults=_defaults(max_value=None, negative_slope=0.0, threshold=0.0),
                 passes_mask=True, keeps_layout=True),
        KindInfo("Softmax", adv, defaults=_defaults(axis=-1), passes_mask=True, keeps_layout=True),
        KindInfo("PReLU", adv, weights=(Weight("alpha"),), passes_mask=True, keeps_layout=True,
                 shapes=ws.same_per_feature),
        KindInfo("ParametricSoftplus", adv, weights=(Weight("alphas"), Weight("betas")), passes_mask=True,
                 keeps_layout=True, shapes=ws.same_per_feature, tf_keras=_KERAS1_ONLY),
        KindInfo("SReLU", adv, weights=(Weight("t_left"), Weight("a_left"), Weight("t_right"), Weight("a_right")),
                 passes_mask=True, keeps_layout=True, shapes=ws.same_per_feature, tf_keras=_KERAS1_ONLY),
        # recurrent
        KindInfo("SimpleRNN", rnn, defaults=_defaults(**_RNN), weights=_RNN_WEIGHTS, gates=("h",),
                 output_dim_is_units=True, shapes=ws.matrix_rnn(1), keras3=_RNN_K3),
        KindInfo("LSTM", rnn, defaults=_defaults(**_RNN, unit_forget_bias=True), weights=_RNN_WEIGHTS, gates=_IFCO,
                 output_dim_is_units=True, keras1_gates=_ICFO, shapes=ws.matrix_rnn(4), keras3=_RNN_K3),
        KindInfo("GRU", rnn, defaults=_defaults(**_RNN), weights=_RNN_WEIGHTS, gates=_ZRH, output_dim_is_units=True,
                 keras1_gates=_ZRH, shapes=ws.matrix_rnn(3), keras3=_RNN_K3),
        KindInfo("CuDNNLSTM", rnn, defaults=_defaults(**_RNN, recurrent_activation="sigmoid"),
                 weights=_CUDNN_WEIGHTS, gates=_IFCO, plain_kind="LSTM", output_dim_is_units=True,
                 shapes=ws.matrix_rnn(4), tf_keras=_CUDNN),
        KindInfo("CuDNNGRU", rnn, defaults=_defaults(**_RNN, recurrent_activation="sigmoid", reset_after=True),
                 weights=_CUDNN_WEIGHTS, gates=_ZRH, plain_kind="GRU", output_dim_is_units=True,
                 shapes=ws.matrix_rnn(3), tf_keras=_CUDNN),
        *(KindInfo(f"ConvLSTM{r}D", rnn, defaults=_defaults(**_RNN, unit_forget_bias=True), rank=r, spatial=K,
                   weights=_RNN_WEIGHTS, gates=_IFCO, flipped_by_theano=(0, 1) if r == 2 else (),
                   keras1_gates=_ICFO if r == 2 else (), shapes=ws.conv_rnn(r, 4),
                   tf_keras=_spell(unstated={"groups": 1}), keras3=_RNN_K3)
          for r in (1, 2, 3)),
        # wrappers
        KindInfo("TimeDistributed", wrap, weights=None),
        KindInfo("Bidirectional", wrap, defaults=_defaults(merge_mode="concat"), weights=None),
        # attention
        KindInfo("Attention", att, defaults=_defaults(use_scale=False, score_mode="dot", causal=False), weights=None,
                 shapes=ws.scalars, tf_keras=_NOT_CAUSAL, keras3=_SEEDED_K3),
        KindInfo("AdditiveAttention", att, defaults=_defaults(use_scale=True, causal=False), weights=None,
                 shapes=ws.additive_attention, tf_keras=_NOT_CAUSAL, keras3=_SEEDED_K3),
        KindInfo("MultiHeadAttention", att, weights=None, shapes=ws.multi_head_attention,
                 tf_keras=_spell(tensor_kwargs=("value", "key"), fill=dict.fromkeys(_MHA_SHAPES)),
                 keras3=_spell(unstated={"softmax_robust_masking": False}, build=_MHA_SHAPES,
                               extra={"use_gate": False, "sliding_window": None, "seed": TRAINING_ONLY})),
    ]
    table: dict[str, KindInfo] = {}
    for row in rows:
        assert row.kind not in table, f"kind listed twice: {row.kind}"
        table[row.kind] = row
    return table


KINDS: Mapping[str, KindInfo] = MappingProxyType(_table())
"""Canonical kind -> its record."""

ALIASES: Mapping[str, str] = MappingProxyType({a: info.kind for info in KINDS.values() for a in info.aliases})
"""Stored class name -> canonical kind, where they differ."""

MODEL_CLASSES = frozenset({"Model", *KINDS["Model"].aliases})
"""Stored class names of a (nested) model."""


def canonical(class_name: str) -> str:
    """The canonical kind a stored class name runs as (unknown names are kept as they are)."""
    return ALIASES.get(class_name, class_name)


def info(kind: str) -> KindInfo | None:
    """The record of a canonical kind, or None when kstep does not know it."""
    return KINDS.get(kind)


def weight_names_of(kind: str, params: Mapping[str, Any]) -> list[str] | None:
    """Canonical names of the weights a layer of `kind` with `params` stores, in order (None: kstep does not check
    the kind, or does not know it)."""
    record = info(kind)
    return None if record is None else record.weight_names(params)


def kinds_where(flag: str) -> frozenset[str]:
    """The kinds whose boolean (or non-empty) attribute `flag` is set, e.g. kinds_where('passes_mask')."""
    return frozenset(k for k, i in KINDS.items() if getattr(i, flag))
