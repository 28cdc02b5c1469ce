"""Provides the kernels for convolutions of every kind (Conv, Separable, Depthwise, Transpose, LocallyConnected).

All of them compute in channels-last layout and return to the layer's data_format at the end. A convolution is an
im2col copy of the strided window view followed by one matrix product (one batched product for grouped convs; bands
of output rows when the im2col matrix would pass 48 MB), so float32 stays float32 and numpy's BLAS does the work.
Theano files convolve (the kernel's spatial axes are flipped, `call.sem.flips_kernel`) and pad 'same' their own way
(`call.sem.theano`); keras-formats.md §4.1, §4.2, §4.6.
"""

from __future__ import annotations

import numpy as np

from kstep.engine import _windows as W
from kstep.engine.base import Call, Kernel, Out, finish

# ---------------------------------------------------------------------------------------------------- helpers


def _flip(kernel: np.ndarray, nd: int) -> np.ndarray:
    """`kernel` with its first `nd` (spatial) axes reversed (a view)."""
    return kernel[(slice(None, None, -1),) * nd]


def _conv_pads(call: Call, x: np.ndarray, nd: int) -> list[W.AxisPad]:
    """Per-axis padding of channels-last `x` under the layer's padding, strides, dilation and the file's rules."""
    p = call.params
    k, s, d = p["kernel_size"], p["strides"], p.get("dilation_rate") or (1,) * nd
    return [W.conv_axis(x.shape[1 + i], k[i], s[i], d[i], p["padding"], call.sem.theano) for i in range(nd)]


def _patches(call: Call, x: np.ndarray, nd: int) -> np.ndarray:
    """Strided window view (batch, *out, *k, channels) of channels-last `x` after padding."""
    p = call.params
    pads = _conv_pads(call, x, nd)
    xp = W.pad_spatial(x, pads)
    d = p.get("dilation_rate") or (1,) * nd
    return W.windows(xp, p["kernel_size"], p["strides"], d, [a.out for a in pads])


def _add_bias(call: Call, z: np.ndarray, bias_index: int) -> np.ndarray:
    """z (channels-last, fresh array) plus the bias weight, in place, when the layer has one."""
    if call.params.get("use_bias", True) and len(call.weights) > bias_index:
        z += call.weights[bias_index]
    return z


def _correlate(win: np.ndarray, kernel: np.ndarray, groups: int = 1) -> np.ndarray:
    """Cross-correlation of a window view (batch, *out, *k, C) with kernel (*k, C/groups, F): (batch, *out, F).

    One GEMM (one batched GEMM when groups > 1) on the im2col matrix (batch*prod(out), prod(k)*C).
    """
    lead = win.shape[: win.ndim - kernel.ndim + 1]  # (batch, *out)
    f = kernel.shape[-1]
    rows = int(np.prod(lead))
    if groups == 1:
        k2 = kernel.reshape(-1, f)
        if rows * k2.shape[0] * win.itemsize <= _IM2COL_BYTES or len(lead) < 2:
            return (win.reshape(rows, -1) @ k2).reshape(*lead, f)
        return _correlate_banded(win, k2, lead)
    cg, fg = kernel.shape[-2], f // groups
    taps = int(np.prod(kernel.shape[:-2]))
    # (rows, taps, G, Cg) -> (G, rows, taps*Cg), the per-group im2col matrices side by side
    cols = np.ascontiguousarray(win.reshape(rows, taps, groups, cg).transpose(2, 0, 1, 3)).reshape(groups, rows, -1)
    kg = kernel.reshape(taps, cg, groups, fg).transpose(2, 0, 1, 3).reshape(groups, taps * cg, fg)
    z = np.matmul(cols, kg)  # (G, rows, Fg)
    return z.transpose(1, 0, 2).reshape(*lead, f)


_IM2COL_BYTES = 48 << 20
"""Largest im2col matrix built at once; above it the GEMM runs in bands of output rows of about _BAND_BYTES each.
A fresh allocation of 100+ MB costs more in page faults on a first run than its GEMM; bands below glibc's 32 MB
mmap ceiling are recycled from the heap instead."""
_BAND_BYTES = 24 << 20


def _correlate_banded(win: np.ndarray, k2: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """`_correlate` for a large layer: the same GEMM, one band of (batch, first output axis) rows at a time, each
    band's im2col copy reused and written straight into the one output array."""
    f = k2.shape[1]
    inner = int(np.prod(lead[2:]))  # output cells per row of the first output axis
    band = max(1, _BAND_BYTES // (inner * k2.shape[0] * win.itemsize))
    z = np.empty((*lead, f), dtype=np.result_type(win.dtype, k2.dtype))
    z2 = z.reshape(-1, f)  # a view: z is fresh and contiguous
    for b in range(lead[0]):
        for r0 in range(0, lead[1], band):
            r1 = min(r0 + band, lead[1])
            start = (b * lead[1] + r0) * inner
            cols = win[b, r0:r1].reshape((r1 - r0) * inner, -1)
            np.matmul(cols, k2, out=z2[start:start + (r1 - r0) * inner])
    return z


def _depthwise(win: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Depthwise correlation of a window view (batch, *out, *k, C) with kernel (*k, C, M): (batch, *out, C*M).

    Output channel c*M + m is input channel c through multiplier m (TF order). A loop over the kernel taps only.
    """
    nd = kernel.ndim - 2
    c, m = kernel.shape[-2:]
    lead = win.shape[: 1 + nd]
    acc = np.zeros((*lead, c, m), dtype=np.result_type(win.dtype, kernel.dtype))
    for index in np.ndindex(*kernel.shape[:nd]):
        acc += W.tap(win, nd, index)[..., None] * kernel[index]
    return acc.reshape(*lead, c * m)


def _pointwise(z: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """1x1 convolution of channels-last z (batch, *sp, C) with kernel (*1, C, F): (batch, *sp, F), one GEMM."""
    f = kernel.shape[-1]
    out = np.ascontiguousarray(z).reshape(-1, z.shape[-1]) @ kernel.reshape(-1, f)
    return out.reshape(*z.shape[:-1], f)


# ---------------------------------------------------------------------------------------------------- Conv


def conv(call: Call) -> Out:
    """Conv1D/2D/3D: x (batch, *sp, C) or (batch, C, *sp); kernel (*k, C/groups, filters); bias (filters,)."""
    nd = call.rank
    fmt = call.params["data_format"]
    kernel = call.weights[0]
    if call.sem.flips_kernel(call.layer.kind):
        kernel = _flip(kernel, nd)
    x = W.channels_last(call.x, fmt)
    groups = int(call.params.get("groups") or 1)
    if x.shape[-1] != kernel.shape[-2] * groups:
        raise call.unsupported(f"input has {x.shape[-1]} channels, kernel expects {kernel.shape[-2] * groups}")
    z = _correlate(_patches(call, x, nd), kernel, groups)
    return finish(call, W.restore_format(_add_bias(call, z, 1), fmt))


# ---------------------------------------------------------------------------------------------------- Transpose


def _transpose_lengths(call: Call, n: tuple[int, ...], nd: int) -> list[int]:
    """Output spatial size of a transposed conv: Keras 1's stored output_shape, else Keras 2's `deconv_length`."""
    p = call.params
    stored = p.get("output_shape")
    if stored is not None:
        sp = stored[2:] if p["data_format"] == "channels_first" else stored[1:-1]
        if len(sp) == nd and all(v is not None for v in sp):
            return [int(v) for v in sp]
    k, s = p["kernel_size"], p["strides"]
    d = p.get("dilation_rate") or (1,) * nd
    op = p.get("output_padding")
    out = []
    for i in range(nd):
        k_eff = (k[i] - 1) * d[i] + 1
        if op is None or op[i] is None:
            length = {"valid": n[i] * s[i] + max(k_eff - s[i], 0), "same": n[i] * s[i],
                      "full": n[i] * s[i] - (s[i] + k_eff - 2)}[p["padding"]]
        else:
            pad = {"same": k_eff // 2, "valid": 0, "full": k_eff - 1}[p["padding"]]
            length = (n[i] - 1) * s[i] + k_eff - 2 * pad + op[i]
        out.append(length)
    return out


def _transpose_before(call: Call, n: int, length: int, i: int) -> int:
    """Cells of the full col2im result dropped before the output on axis i: the forward conv's `before` padding."""
    p = call.params
    k, s = p["kernel_size"][i], p["strides"][i]
    d = (p.get("dilation_rate") or (1,) * len(p["kernel_size"]))[i]
    k_eff = (k - 1) * d + 1
    if p["padding"] == "valid":
        return 0
    if p["padding"] == "full":
        return k_eff - 1
    if call.sem.theano:  # Theano 'half' gradInputs
        return k_eff // 2
    return max((n - 1) * s + k_eff - length, 0) // 2  # TF: forward 'same' on an input of `length` cells


def conv_transpose(call: Call) -> Out:
    """Conv1D/2D/3DTranspose: x (batch, *n, Cin); kernel (*k, filters, Cin); out (batch, *length, filters).

    The gradient of a correlation: one GEMM x @ kernel^T to (batch, *n, *k, filters), then each kernel tap is
    scatter-added at stride s into the full result (length (n-1)*s + k_eff), which is cropped to the output.
    """
    p = call.params
    nd = call.rank
    fmt = p["data_format"]
    if call.sem.theano and p["padding"] == "same" and any(k % 2 == 0 for k in p["kernel_size"]):
        raise call.unsupported("Theano rejects even kernel sizes with padding 'same' in transposed convolutions")
    kernel = call.weights[0]
    if call.sem.flips_kernel(call.layer.kind):
        kernel = _flip(kernel, nd)
    x = W.channels_last(call.x, fmt)
    k, s = tuple(p["kernel_size"]), tuple(p["strides"])
    d = tuple(p.get("dilation_rate") or (1,) * nd)
    n = x.shape[1:-1]
    f, cin = kernel.shape[-2:]
    cols = np.ascontiguousarray(x).reshape(-1, cin) @ kernel.reshape(-1, cin).T  # (batch*prod(n), prod(k)*f)
    cols = cols.reshape(x.shape[0], *n, *k, f)
    full_len = [(n[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 for i in range(nd)]
    lengths = _transpose_lengths(call, n, nd)
    befores = [_transpose_before(call, n[i], lengths[i], i) for i in range(nd)]
    size = [max(full_len[i], befores[i] + lengths[i]) for i in range(nd)]
    full = np.zeros((x.shape[0], *size, f), dtype=cols.dtype)
    for index in np.ndindex(*k):
        dst = tuple(slice(index[i] * d[i], index[i] * d[i] + (n[i] - 1) * s[i] + 1, s[i]) for i in range(nd))
        full[(slice(None),) + dst] += cols[(slice(None),) * (1 + nd) + index]
    z = full[(slice(None),) + tuple(slice(befores[i], befores[i] + lengths[i]) for i in range(nd))]
    z = _add_bias(call, np.ascontiguousarray(z), 1)
    return finish(call, W.restore_format(z, fmt))


# ---------------------------------------------------------------------------------------------------- depthwise


def depthwise(call: Call) -> Out:
    """DepthwiseConv1D/2D: x (batch, *sp, C); depthwise_kernel (*k, C, mult); out C*mult channels. Never flipped."""
    nd = call.rank
    fmt = call.params["data_format"]
    x = W.channels_last(call.x, fmt)
    z = _depthwise(_patches(call, x, nd), call.weights[0])
    return finish(call, W.restore_format(_add_bias(call, z, 1), fmt))


def separable(call: Call) -> Out:
    """SeparableConv1D/2D: depthwise (*k, C, mult) with the layer's strides/padding, then pointwise (*1, C*mult, F)."""
    nd = call.rank
    fmt = call.params["data_format"]
    x = W.channels_last(call.x, fmt)
    z = _depthwise(_patches(call, x, nd), call.weights[0])
    z = _pointwise(z, call.weights[1])
    return finish(call, W.restore_format(_add_bias(call, z, 2), fmt))


# ---------------------------------------------------------------------------------------------------- local


def locally_connected(call: Call) -> Out:
    """LocallyConnected1D/2D (unshared weights), 'valid' only as in Keras' implementation 1.

    kernel (prod(out), prod(k)*C, F) with each row block flattened (*k, C) for channels_last and (C, *k) for
    channels_first; bias (*out, F), added the way Keras' bias_add does it (for channels_first a plain reshape to
    (F, *out), not a transpose).
    """
    p = call.params
    nd = call.rank
    fmt = p["data_format"]
    if p["padding"] != "valid":
        raise call.unsupported(f"padding {p['padding']!r} (only 'valid' has a canonical kernel layout)")
    x = W.channels_last(call.x, fmt)
    win = _patches(call, x, nd)  # (batch, *out, *k, C)
    out = win.shape[1:1 + nd]
    npos = int(np.prod(out))
    if fmt == "channels_first":  # feature order (C, *k)
        win = np.moveaxis(win, -1, 1 + nd)
    cols = np.ascontiguousarray(win.reshape(x.shape[0], npos, -1).transpose(1, 0, 2))  # (P, batch, K)
    kernel = call.weights[0]
    if kernel.shape[:2] != (npos, cols.shape[-1]):
        raise call.unsupported(f"kernel shape {kernel.shape} does not fit {npos} positions of {cols.shape[-1]} inputs")
    z = np.matmul(cols, kernel)  # (P, batch, F)
    f = kernel.shape[-1]
    z = z.transpose(1, 0, 2).reshape(x.shape[0], *out, f)
    z = W.restore_format(z, fmt)
    if p.get("use_bias", True) and len(call.weights) > 1:
        bias = call.weights[1]
        z = z + (bias.reshape((1, f) + tuple(out)) if fmt == "channels_first" else bias.reshape((1,) + bias.shape))
    return finish(call, z)


KERNELS: dict[str, Kernel] = {
    "Conv1D": conv,
    "Conv2D": conv,
    "Conv3D": conv,
    "Conv1DTranspose": conv_transpose,
    "Conv2DTranspose": conv_transpose,
    "Conv3DTranspose": conv_transpose,
    "SeparableConv1D": separable,
    "SeparableConv2D": separable,
    "DepthwiseConv1D": depthwise,
    "DepthwiseConv2D": depthwise,
    "LocallyConnected1D": locally_connected,
    "LocallyConnected2D": locally_connected,
}
