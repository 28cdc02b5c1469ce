"""Provides `Semantics`: how the Keras version and backend that wrote a file executed it (and the enums its answers
use: Generation, Backend, HardSigmoid, L2Norm).

This is the one place where version semantics live. The reader (`kstep.io`) builds a `Semantics` from what the file
says (and what it had to assume, recorded as facts); the engine only asks it questions, one named property per
version rule, and never looks at versions itself. Sources for every rule: ../shared/docs/keras-formats.md (section
numbers in the docstrings), or the real-Keras fixture that checks it where that document is silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, StrEnum

from kstep.kinds import kinds_where


class Generation(StrEnum):
    """Which Keras wrote (and so executed) a file: its major line, with tf.keras 2 apart from multi-backend Keras 2."""

    KERAS1 = "keras1"
    KERAS2 = "keras2"  # multi-backend Keras 2.0-2.3 (Theano, TensorFlow, CNTK)
    TF_KERAS = "tf.keras"  # tf.keras / tf_keras 2.x (and keras 2.4+, which is tf.keras)
    KERAS3 = "keras3"


class Backend(StrEnum):
    """The backend that ran the file."""

    THEANO = "theano"
    TENSORFLOW = "tensorflow"
    CNTK = "cntk"
    JAX = "jax"
    TORCH = "torch"
    NUMPY = "numpy"


class HardSigmoid(StrEnum):
    """Which formula `hard_sigmoid` computes, rendered as the formula inside clip(..., 0, 1) (§4.10)."""

    LINEAR = "0.2x+0.5"  # Keras 1, Keras 2, tf.keras 2: clip(0.2x + 0.5, 0, 1)
    RELU6 = "x/6+0.5"  # Keras 3: relu6(x + 3) / 6


class L2Norm(Enum):
    """How the backend's l2_normalize divides x by its norm over some axes (ss = sum of x^2 over them)."""

    DIVIDE = "x / sqrt(max(ss, eps))"  # Keras 1/2 on Theano or CNTK (eps = K.epsilon())
    RSQRT = "x * rsqrt(max(ss, 1e-12))"  # tf.nn.l2_normalize: Keras 2 on TensorFlow, tf.keras 2
    CAPPED_RSQRT = "x * min(rsqrt(ss), 1 / eps)"  # Keras 3 ops.normalize


_FLIPPED_BY_THEANO = kinds_where("flipped_by_theano")

GENERATIONS = tuple(g.value for g in Generation)
BACKENDS = tuple(b.value for b in Backend)


def version_tuple(version: str) -> tuple[int, int, int]:
    """'2.2.4-tf' -> (2, 2, 4); '1' -> (1, 0, 0); unparsable parts count as 0."""
    nums = [int(n) for n in re.findall(r"\d+", version.split("-")[0])[:3]]
    while len(nums) < 3:
        nums.append(0)
    return tuple(nums)  # type: ignore[return-value]


@dataclass(frozen=True)
class Semantics:
    """Execution semantics of one model file.

    generation: which Keras (a plain string such as 'keras1' is accepted and converted). keras_version: as stored,
    or the assumed one ('1.2.2'). backend: stored, or assumed for Keras 1 files (a string is converted too).
    """

    generation: Generation
    keras_version: str
    backend: Backend

    def __post_init__(self) -> None:
        object.__setattr__(self, "generation", Generation(self.generation))
        object.__setattr__(self, "backend", Backend(self.backend))

    @property
    def version(self) -> tuple[int, int, int]:
        return version_tuple(self.keras_version)

    @property
    def theano(self) -> bool:
        """Theano ran this file: true convolution and Theano's own 'same' padding rules (§4.1, §4.2)."""
        return self.backend is Backend.THEANO

    def flips_kernel(self, kind: str) -> bool:
        """Whether `kind` computed a true convolution (spatially flipped kernel) rather than a cross-correlation.

        Theano flips the kinds whose kstep.kinds record has `flipped_by_theano` (Conv1D/2D/3D, the transposed
        convolutions, ConvLSTM2D); depthwise and separable convolutions correlate on every backend (§4.1).
        """
        return self.theano and kind in _FLIPPED_BY_THEANO

    @property
    def hard_sigmoid(self) -> HardSigmoid:
        """Which hard_sigmoid formula: 0.2x+0.5 (Keras 1, 2, tf.keras 2) or x/6+0.5 (Keras 3) (§4.10).

        A StrEnum: str() and f-strings give the formula ('0.2x+0.5', 'x/6+0.5'), and it equals that string.
        """
        return HardSigmoid.RELU6 if self.generation is Generation.KERAS3 else HardSigmoid.LINEAR

    @property
    def softmax_2d_3d_only(self) -> bool:
        """The softmax activation refuses anything but 2-D or 3-D input (Keras 1; later ones take any rank) (§4.7)."""
        return self.generation is Generation.KERAS1

    @property
    def softmax_layer_2d_last_axis(self) -> bool:
        """The Softmax layer on a 2-D input uses the last axis whatever its `axis` says (Keras 1/2's 2-D path, §4.7)."""
        return self.generation in (Generation.KERAS1, Generation.KERAS2)

    @property
    def softmax_layer_masks(self) -> bool:
        """The Softmax layer adds -1e9 where a mask of the input's shape is False (tf.keras 2, Keras 3) (§4.7)."""
        return self.generation in (Generation.TF_KERAS, Generation.KERAS3)

    @property
    def l2_normalize(self) -> L2Norm:
        """The backend's l2_normalize, used by Dot(normalize=True) and UnitNormalization (§4.8 gives Keras 2's
        Theano form; the others are read from tf.nn.l2_normalize and Keras 3 ops.normalize, and checked by the
        UnitNormalization and Dot(normalize=True) cases of tests/fixtures/modern)."""
        if self.generation is Generation.KERAS3:
            return L2Norm.CAPPED_RSQRT
        if self.generation is Generation.TF_KERAS or self.backend is Backend.TENSORFLOW:
            return L2Norm.RSQRT
        return L2Norm.DIVIDE

    @property
    def bilinear_half_pixel(self) -> bool:
        """UpSampling2D('bilinear') samples at half-pixel centres: tf.keras 2's tf.image.resize, Keras 3, Theano's
        bilinear_upsampling; standalone Keras 2 on TensorFlow/CNTK uses TF 1's legacy resize_bilinear (src = dst /
        factor). Not in keras-formats.md; the tests/fixtures/modern upsample_pad_reshape cases check tf.keras 2 and
        Keras 3."""
        return self.theano or self.generation in (Generation.TF_KERAS, Generation.KERAS3)

    @property
    def time_distributed_mask_unchanged(self) -> bool:
        """TimeDistributed's output mask is its input mask, unchanged (Keras 1, Keras 3); tf.keras 2 and Keras 2 take
        the inner layer's own mask, else reduce the input mask's extra axes with any(). Not in keras-formats.md
        (§4.4 covers recurrent masks only); the tests/fixtures/modern embedding_mask_bilstm_td cases check it."""
        return self.generation in (Generation.KERAS1, Generation.KERAS3)

    @property
    def time_distributed_folds_mask(self) -> bool:
        """TimeDistributed hands a mask of more than two axes (batch, time, steps...) to its inner layer folded like
        the input (Keras 2 on; Keras 1 hands it none). Not in keras-formats.md (§4.4 covers recurrent masks only)."""
        return self.generation is not Generation.KERAS1

    @property
    def bidirectional_zero_output_for_mask(self) -> bool:
        """Bidirectional sets zero_output_for_mask on both directions when returning sequences, so masked steps are
        zeros, not the repeated previous output of §4.4 (tf.keras 2, Keras 3; seen in the tests/fixtures/modern
        embedding_mask_bilstm_td cases)."""
        return self.generation in (Generation.TF_KERAS, Generation.KERAS3)

    @property
    def attention_ignores_propagated_masks(self) -> bool:
        """Attention/AdditiveAttention never receive propagated masks in a functional model (Keras 3, checked with
        3.15.1 on the numpy and TensorFlow backends, see kstep/engine/attention.py); tf.keras 2 applies them. Not in
        keras-formats.md."""
        return self.generation is Generation.KERAS3

    @property
    def avg_pool_same_counts_padding(self) -> bool:
        """Keras 2.0.4-2.1.4 on Theano averaged 'same' pools with padded zeros counted (§4.2, keras#9479)."""
        return self.theano and (2, 0, 4) <= self.version <= (2, 1, 4)

    @property
    def epsilon(self) -> float:
        """K.epsilon(): 1e-7 in every generation (written 10e-8 in Keras 1) (§4.7)."""
        return 1e-7

    # --- reader rules (kstep.io) ---
    @property
    def keras1_weight_layouts(self) -> bool:
        """Weights are stored in Keras 1 layouts, converted on reading as Keras 2's loader did: per-gate LSTM
        (i,c,f,o) and GRU (z,r,h) arrays, 'th' kernels (out, in, ...spatial), Conv1D's dummy axis (§3.2)."""
        return self.generation is Generation.KERAS1

    @property
    def zip_counts_repeated_layers(self) -> bool:
        """A `.keras` model.weights.h5 saved under `_layer_checkpoint_dependencies` (tf.keras 2.12-2.14) numbers the
        second listing of a layer with weights too (`conv2d`, `conv2d_2`): tf.keras 2.12-2.13's
        `_save_container_state` counted before skipping an object already saved; 2.14 skips first. Not in
        keras-formats.md: read from keras 2.12.0/2.13.1/2.14.0 saving_lib.py, checked on the tests/fixtures/tf2zip
        files saved by real tf.keras 2.12.0, 2.13.1 and 2.14.0 (kstep.io.zip_tree)."""
        return self.generation is Generation.TF_KERAS and self.version < (2, 14, 0)

    @property
    def default_recurrent_activation(self) -> str:
        """LSTM/GRU/ConvLSTM recurrent activation when the config stores none: 'hard_sigmoid' in Keras 1 and Keras
        2.0-2.2, 'sigmoid' from Keras 2.3, in tf.keras 2 and in Keras 3 (§4.4)."""
        if self.generation is Generation.KERAS1 or (
                self.generation is Generation.KERAS2 and self.version < (2, 3, 0)):
            return "hard_sigmoid"
        return "sigmoid"

    @property
    def default_gru_reset_after(self) -> bool:
        """GRU reset_after when the config stores none: False in Keras 1 and 2, True in tf.keras 2 and Keras 3
        (§4.4, §4.10)."""
        return self.generation in (Generation.TF_KERAS, Generation.KERAS3)

    @property
    def bn_has_mode(self) -> bool:
        """BatchNormalization has a `mode` (0 running statistics, 1 per sample, 2 batch statistics): Keras 1 only;
        Keras 2 refuses modes 1 and 2 (§4.3)."""
        return self.generation is Generation.KERAS1

    @property
    def default_bn_epsilon(self) -> float:
        """BatchNormalization epsilon when the config stores none: 1e-6 in Keras 1.0.0-1.0.7, 1e-5 in 1.0.8-1.1.2,
        1e-3 from 1.2.0 on (§4.3)."""
        v = self.version
        return 1e-3 if v >= (1, 2, 0) else (1e-5 if v >= (1, 0, 8) else 1e-6)

    @property
    def flatten_has_data_format(self) -> bool:
        """Flatten takes a `data_format` (channels_first is permuted to channels-last first) from Keras 2.2.0 on;
        before, it flattened the tensor as laid out (§4.5)."""
        return self.version >= (2, 2, 0)

    @property
    def nested_model_inbound_offset(self) -> bool:
        """Inbound-node references to a nested model count its own graph as node 0 (its first outer call is node 1):
        Keras 1, 2 and tf.keras; Keras 3 keeps that offset only in input_layers/output_layers (§2.4)."""
        return self.generation is not Generation.KERAS3

    @property
    def default_image_data_format(self) -> str:
        """The keras.json image ordering assumed for layers that stored none, when the file's own layers do not
        agree on one: 'channels_first' for Keras 1 on Theano (Keras 1 paired Theano with 'th', §1.1), else
        'channels_last'."""
        return "channels_first" if self.generation is Generation.KERAS1 and self.backend is Backend.THEANO \
            else "channels_last"
