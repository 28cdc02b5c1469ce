"""Tests of kstep.engine.conv: the fast kernels against the loop reference, and hand-checked Theano rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kstep.engine import _reference as ref
from kstep.engine.base import Call
from kstep.engine.conv import KERNELS
from kstep.ir import LayerSpec
from kstep.semantics import Semantics

TF = Semantics("tf.keras", "2.15.0", "tensorflow")
THEANO = Semantics("keras2", "2.2.4", "theano")
SETTINGS = settings(derandomize=True, max_examples=30, deadline=None)


def run(kind, params, x, weights, sem=TF):
    """Run kernel `kind` on x with params (activation linear, bias on unless said) and return (output, Out)."""
    params = {"activation": "linear", "use_bias": True, **params}
    spec = LayerSpec(name="l", class_name=kind, kind=kind, params=params)
    out = KERNELS[kind](Call(layer=spec, inputs=[x], weights=weights, sem=sem, dtype=x.dtype))
    return out.outputs[0], out


def close(got, want):
    """The project tolerance, |got - want| <= 1e-5 + 1e-4 |want|, on float32 results."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def to_first(a):
    return np.moveaxis(a, -1, 1)


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@st.composite
def conv_case(draw, max_rank=3):
    nd = draw(st.integers(1, max_rank))
    n = tuple(draw(st.integers(1, 7 if nd < 3 else 5)) for _ in range(nd))
    padding = draw(st.sampled_from(["valid", "same", "full"] + (["causal"] if nd == 1 else [])))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    use_dil = draw(st.booleans())
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd)) if use_dil else (1,) * nd
    s = (1,) * nd if use_dil else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    if padding == "valid":  # at least one output cell
        n = tuple(max(ni, (ki - 1) * di + 1) for ni, ki, di in zip(n, k, d))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 3))
    return dict(nd=nd, n=n, k=k, s=s, d=d, padding=padding, groups=groups, cin=cin, filters=filters,
                first=draw(st.booleans()), theano=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@SETTINGS
@given(conv_case())
def test_conv_matches_reference(c):
    """ConvND on every padding/stride/dilation/group/format mix equals the loop reference (Theano flips)."""
    rng = np.random.default_rng(c["seed"])
    x = rand(rng, 2, *c["n"], c["cin"])
    kernel, bias = rand(rng, *c["k"], c["cin"] // c["groups"], c["filters"]), rand(rng, c["filters"])
    sem = THEANO if c["theano"] else TF
    want = ref.conv(x, kernel, c["s"], c["padding"], c["d"], c["groups"], c["theano"], flip=c["theano"]) + bias
    fmt = "channels_first" if c["first"] else "channels_last"
    params = dict(filters=c["filters"], kernel_size=c["k"], strides=c["s"], padding=c["padding"], data_format=fmt,
                  dilation_rate=c["d"], groups=c["groups"])
    got, _ = run(f"Conv{c['nd']}D", params, to_first(x) if c["first"] else x, [kernel, bias], sem)
    close(got, to_first(want) if c["first"] else want)
    assert got.dtype == np.float32


@SETTINGS
@given(conv_case(max_rank=2), st.sampled_from([None, 0, 1]))
def test_conv_transpose_matches_reference(c, op):
    """ConvNDTranspose (Keras 2 lengths, output_padding, both formats, Theano flip) equals the scatter reference."""
    padding = "same" if c["padding"] in ("same", "causal") else c["padding"]
    k = tuple(ki | 1 for ki in c["k"]) if (c["theano"] and padding == "same") else c["k"]
    nd, s, d = c["nd"], c["s"], c["d"]
    rng = np.random.default_rng(c["seed"])
    x = rand(rng, 2, *c["n"], c["cin"])
    kernel, bias = rand(rng, *k, c["filters"], c["cin"]), rand(rng, c["filters"])
    output_padding = None if op is None else tuple(min(op, si - 1) for si in s)
    length = []
    for i in range(nd):
        k_eff = (k[i] - 1) * d[i] + 1
        if output_padding is None:
            length.append({"valid": c["n"][i] * s[i] + max(k_eff - s[i], 0), "same": c["n"][i] * s[i],
                           "full": c["n"][i] * s[i] - (s[i] + k_eff - 2)}[padding])
        else:
            pad = {"same": k_eff // 2, "valid": 0, "full": k_eff - 1}[padding]
            length.append((c["n"][i] - 1) * s[i] + k_eff - 2 * pad + output_padding[i])
    if min(length) < 1:
        return
    sem = THEANO if c["theano"] else TF
    want = ref.conv_transpose(x, kernel, s, padding, length, d, c["theano"], flip=c["theano"]) + bias
    fmt = "channels_first" if c["first"] else "channels_last"
    params = dict(filters=c["filters"], kernel_size=k, strides=s, padding=padding, data_format=fmt,
                  dilation_rate=d, output_padding=output_padding, output_shape=None)
    got, _ = run(f"Conv{nd}DTranspose", params, to_first(x) if c["first"] else x, [kernel, bias], sem)
    close(got, to_first(want) if c["first"] else want)


@SETTINGS
@given(conv_case(max_rank=2))
def test_conv_transpose_is_the_adjoint_of_conv(c):
    """<conv(y), x> == <y, conv_transpose(x)>: the transpose really is the gradient of TF's forward conv."""
    padding = "valid" if c["padding"] == "valid" else "same"
    nd, k, s, d = c["nd"], c["k"], c["s"], c["d"]
    rng = np.random.default_rng(c["seed"])
    x = rand(rng, 1, *c["n"], c["cin"])
    kernel = rand(rng, *k, c["filters"], c["cin"])
    params = dict(filters=c["filters"], kernel_size=k, strides=s, padding=padding, data_format="channels_last",
                  dilation_rate=d, output_padding=None, output_shape=None, use_bias=False)
    t, _ = run(f"Conv{nd}DTranspose", params, x, [kernel])
    y = rand(rng, *t.shape)
    fwd = ref.conv(y, kernel, s, padding, d)
    assert fwd.shape == x.shape
    np.testing.assert_allclose(np.sum(fwd * x), np.sum(y.astype(np.float64) * t), rtol=1e-4, atol=1e-4)


@SETTINGS
@given(conv_case(max_rank=2), st.integers(1, 3))
def test_depthwise_and_separable_match_reference(c, mult):
    """DepthwiseConvND and SeparableConvND equal the reference; Theano pads its own way but never flips them."""
    padding = "same" if c["padding"] == "full" else c["padding"]
    rng = np.random.default_rng(c["seed"])
    nd = c["nd"]
    x = rand(rng, 2, *c["n"], c["cin"])
    dw, pw = rand(rng, *c["k"], c["cin"], mult), rand(rng, *(1,) * nd, c["cin"] * mult, c["filters"])
    sem = THEANO if c["theano"] else TF
    fmt = "channels_first" if c["first"] else "channels_last"
    xin = to_first(x) if c["first"] else x
    params = dict(kernel_size=c["k"], strides=c["s"], padding=padding, data_format=fmt, dilation_rate=c["d"],
                  depth_multiplier=mult)
    b1, b2 = rand(rng, c["cin"] * mult), rand(rng, c["filters"])
    want = ref.depthwise(x, dw, c["s"], padding, c["d"], c["theano"]) + b1
    got, _ = run(f"DepthwiseConv{nd}D", params, xin, [dw, b1], sem)
    close(got, to_first(want) if c["first"] else want)
    want = ref.separable(x, dw, pw, c["s"], padding, c["d"], c["theano"]) + b2
    got, _ = run(f"SeparableConv{nd}D", {**params, "filters": c["filters"]}, xin, [dw, pw, b2], sem)
    close(got, to_first(want) if c["first"] else want)


@SETTINGS
@given(conv_case(max_rank=2))
def test_locally_connected_matches_reference(c):
    """LocallyConnectedND (valid, implementation-1 kernel, Keras' channels_first bias reshape) equals reference."""
    nd, k, s = c["nd"], c["k"], c["s"]
    n = tuple(max(ni, ki) for ni, ki in zip(c["n"], k))
    out = [(n[i] - k[i]) // s[i] + 1 for i in range(nd)]
    rng = np.random.default_rng(c["seed"])
    x = rand(rng, 2, *n, c["cin"])
    kernel = rand(rng, int(np.prod(out)), int(np.prod(k)) * c["cin"], c["filters"])
    bias = rand(rng, *out, c["filters"])
    want = ref.locally_connected(x, kernel, k, s, channels_first_order=c["first"])
    params = dict(filters=c["filters"], kernel_size=k, strides=s, padding="valid", implementation=1,
                  data_format="channels_first" if c["first"] else "channels_last")
    got, _ = run(f"LocallyConnected{nd}D", params, to_first(x) if c["first"] else x, [kernel, bias])
    if c["first"]:
        want = to_first(want) + bias.reshape(1, c["filters"], *out)
    else:
        want = want + bias
    close(got, want)


def conv1d(values, kernel, sem, padding="same", strides=1):
    x = np.asarray(values, np.float32).reshape(1, -1, 1)
    w = np.asarray(kernel, np.float32).reshape(-1, 1, 1)
    params = dict(filters=1, kernel_size=(len(kernel),), strides=(strides,), padding=padding,
                  data_format="channels_last", dilation_rate=(1,), groups=1, use_bias=False)
    return run("Conv1D", params, x, [w], sem)[0].ravel()


def test_even_kernel_same_theano_vs_tf():
    """k=2 'same': Theano pads 1 both sides, convolves (flip) and keeps the first n; TF pads after and correlates."""
    np.testing.assert_array_equal(conv1d([1, 2, 3, 4], [1, 10], THEANO), [1, 12, 23, 34])
    np.testing.assert_array_equal(conv1d([1, 2, 3, 4], [1, 10], TF), [21, 32, 43, 4])


def test_stride2_same_theano_agrees_with_tf_only_on_odd_n():
    """k=3, s=2 'same': Theano's window starts at j*s-1; TF's at j*s - floor(total/2), equal only if n mod s == 1."""
    first = [1, 0, 0]  # TF correlates: picks each window's first cell; Theano flips, so it needs [0, 0, 1]
    assert conv1d([1, 2, 3, 4], first[::-1], THEANO, strides=2).tolist() == [0, 2]  # windows start at -1, 1
    assert conv1d([1, 2, 3, 4], first, TF, strides=2).tolist() == [1, 3]  # windows start at 0, 2
    assert conv1d([1, 2, 3, 4, 5], first[::-1], THEANO, strides=2).tolist() == [0, 2, 4]
    assert conv1d([1, 2, 3, 4, 5], first, TF, strides=2).tolist() == [0, 2, 4]


def test_full_and_causal_padding():
    """'full' pads k-1 on both sides; 'causal' pads d*(k-1) on the left only."""
    assert conv1d([1, 2, 3], [1, 1], TF, padding="full").tolist() == [1, 3, 5, 3]
    assert conv1d([1, 2, 3], [1, 10], TF, padding="causal").tolist() == [10, 21, 32]


def test_conv_transpose_same_stride2_theano_vs_tf():
    """Conv1DTranspose(k=3, s=2, 'same') on [1, 2]: TF drops 0 cells of the full scatter, Theano (flipped) 1."""
    x = np.asarray([1, 2], np.float32).reshape(1, 2, 1)
    w = np.asarray([1, 2, 3], np.float32).reshape(3, 1, 1)
    params = dict(filters=1, kernel_size=(3,), strides=(2,), padding="same", data_format="channels_last",
                  dilation_rate=(1,), output_padding=None, output_shape=None, use_bias=False)
    assert run("Conv1DTranspose", params, x, [w], TF)[0].ravel().tolist() == [1, 2, 5, 4]
    assert run("Conv1DTranspose", params, x, [w], THEANO)[0].ravel().tolist() == [2, 7, 4, 2]


def test_keras1_deconvolution_uses_stored_output_shape():
    """A Keras 1 Deconvolution2D's stored output_shape (batch included, layer ordering) sets the output size."""
    rng = np.random.default_rng(0)
    x, w = rand(rng, 1, 2, 3, 3), rand(rng, 3, 3, 4, 2)
    params = dict(filters=4, kernel_size=(3, 3), strides=(2, 2), padding="valid", data_format="channels_first",
                  dilation_rate=(1, 1), output_padding=None, output_shape=(None, 4, 8, 8), use_bias=False)
    got, _ = run("Conv2DTranspose", params, x, [w], THEANO)
    want = ref.conv_transpose(x.transpose(0, 2, 3, 1), w, (2, 2), "valid", (8, 8), theano=True, flip=True)
    close(got, to_first(want))


def test_fused_activation_keeps_pre_activation():
    """The kernel applies the fused activation and keeps z as pre_activation."""
    x = np.asarray([-1, 2], np.float32).reshape(1, 2, 1)
    params = dict(filters=1, kernel_size=(1,), strides=(1,), padding="valid", data_format="channels_last",
                  dilation_rate=(1,), groups=1, use_bias=False, activation="relu")
    spec = LayerSpec(name="l", class_name="Conv1D", kind="Conv1D", params={"use_bias": False, **params})
    out = KERNELS["Conv1D"](Call(layer=spec, inputs=[x], weights=[np.ones((1, 1, 1), np.float32)], sem=TF,
                                 dtype=np.dtype("float32")))
    assert out.outputs[0].ravel().tolist() == [0, 2]
    assert out.pre_activation.ravel().tolist() == [-1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    """float32 stays float32 and float64 stays float64 through conv, transpose, depthwise."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 5, 2)).astype(dtype)
    base = dict(kernel_size=(3, 3), strides=(1, 1), padding="same", data_format="channels_last",
                dilation_rate=(1, 1), use_bias=False)
    assert run("Conv2D", {**base, "filters": 3, "groups": 1}, x, [np.ones((3, 3, 2, 3), dtype)])[0].dtype == dtype
    assert run("Conv2DTranspose", {**base, "filters": 3, "output_padding": None, "output_shape": None}, x,
               [np.ones((3, 3, 3, 2), dtype)])[0].dtype == dtype
    assert run("DepthwiseConv2D", {**base, "depth_multiplier": 1}, x, [np.ones((3, 3, 2, 1), dtype)])[0].dtype == dtype


def test_banded_gemm_equals_reference(monkeypatch):
    """A conv whose im2col matrix is over the size limit runs in bands of output rows with the same result."""
    from kstep.engine import conv as conv_module

    monkeypatch.setattr(conv_module, "_IM2COL_BYTES", 1)
    monkeypatch.setattr(conv_module, "_BAND_BYTES", 3 * 5 * 2 * 4 * 4)  # 3 output rows of 5 cells per band
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, 2, 9, 5, 2), rand(rng, 2, 2, 2, 3), rand(rng, 3)
    params = dict(filters=3, kernel_size=(2, 2), strides=(1, 1), padding="same", data_format="channels_last",
                  dilation_rate=(1, 1), groups=1)
    got, _ = run("Conv2D", params, x, [w, b])
    close(got, ref.conv(x, w, (1, 1), "same") + b)
