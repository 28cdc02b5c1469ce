"""Provides slow, obvious loop implementations of convolution and pooling, for tests of the fast kernels only.

Everything here is written straight from the definitions in keras-formats.md §4.1-4.2 (and tf.keras'
`local_conv`), in float64, channels-last, one output cell at a time; nothing is shared with `_windows.py` so the
two can check each other. Inputs: x (batch, *spatial, channels); results are float64.
"""

from __future__ import annotations

import itertools

import numpy as np


def conv_geometry(n: int, k: int, s: int, d: int, padding: str, theano: bool) -> tuple[int, int]:
    """(out, before) of one convolution axis: out windows, window j starting at input cell j*s - before."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return (n - k_eff) // s + 1, 0
    if padding == "same":
        out = -(-n // s)
        if theano:
            return out, k_eff // 2
        return out, max((out - 1) * s + k_eff - n, 0) // 2
    if padding == "causal":
        return (n - 1) // s + 1, k_eff - 1
    if padding == "full":
        return (n + k_eff - 2) // s + 1, k_eff - 1
    raise ValueError(padding)


def pool_geometry(n: int, k: int, s: int, padding: str, theano: bool, rank: int = 2) -> tuple[int, int]:
    """(out, before) of one pooling axis (Theano: pad k-2 for odd k > 2, any odd k in 3-D, else k-1)."""
    if padding == "valid":
        return (n - k) // s + 1, 0
    out = -(-n // s)
    if theano:
        p = k - 2 if (k % 2 == 1 and (k > 2 or rank == 3)) else k - 1
        p = max(p, 0)
        return min(out, (n + 2 * p - k) // s + 1), p
    return out, max((out - 1) * s + k - n, 0) // 2


def _cells(j, i, s, d, before):
    return tuple(jj * ss - bb + ii * dd for jj, ii, ss, dd, bb in zip(j, i, s, d, before))


def _inside(pos, shape):
    return all(0 <= p < n for p, n in zip(pos, shape))


def conv(x, kernel, strides, padding, dilation=None, groups=1, theano=False, flip=False):
    """Conv: kernel (*k, C/groups, F). flip: true convolution (Theano). -> (batch, *out, F) float64."""
    nd = x.ndim - 2
    k = kernel.shape[:nd]
    d = dilation or (1,) * nd
    if flip:
        kernel = kernel[(slice(None, None, -1),) * nd]
    geo = [conv_geometry(x.shape[1 + a], k[a], strides[a], d[a], padding, theano) for a in range(nd)]
    out, before = [g[0] for g in geo], [g[1] for g in geo]
    cg, f = kernel.shape[-2], kernel.shape[-1]
    fg = f // groups
    y = np.zeros((x.shape[0], *out, f))
    for b in range(x.shape[0]):
        for j in itertools.product(*map(range, out)):
            for i in itertools.product(*map(range, k)):
                pos = _cells(j, i, strides, d, before)
                if not _inside(pos, x.shape[1:-1]):
                    continue
                for g in range(groups):
                    xv = x[(b, *pos)][g * cg:(g + 1) * cg].astype(np.float64)
                    y[(b, *j)][g * fg:(g + 1) * fg] += xv @ kernel[i][:, g * fg:(g + 1) * fg].astype(np.float64)
    return y


def depthwise(x, kernel, strides, padding, dilation=None, theano=False):
    """Depthwise conv: kernel (*k, C, M) -> (batch, *out, C*M), channel c*M + m; never flipped."""
    c, m = kernel.shape[-2:]
    cols = []
    for ci in range(c):
        for mi in range(m):
            kk = kernel[..., ci:ci + 1, mi:mi + 1]
            cols.append(conv(x[..., ci:ci + 1], kk, strides, padding, dilation, theano=theano))
    return np.concatenate(cols, axis=-1)


def separable(x, depthwise_kernel, pointwise_kernel, strides, padding, dilation=None, theano=False):
    """Separable conv: depthwise then a 1x1 conv with pointwise (*1, C*M, F)."""
    z = depthwise(x, depthwise_kernel, strides, padding, dilation, theano)
    nd = x.ndim - 2
    return conv(z, pointwise_kernel.astype(np.float64), (1,) * nd, "valid")


def conv_transpose(x, kernel, strides, padding, length, dilation=None, theano=False, flip=False):
    """Transposed conv, by its definition as the scatter (adjoint) of a conv: kernel (*k, F, Cin); `length` the
    output size per axis. Input cell j, tap i lands on output cell j*s + i*d - before. -> (batch, *length, F)."""
    nd = x.ndim - 2
    k = kernel.shape[:nd]
    d = dilation or (1,) * nd
    if flip:
        kernel = kernel[(slice(None, None, -1),) * nd]
    before = []
    for a in range(nd):
        k_eff = (k[a] - 1) * d[a] + 1
        if padding == "valid":
            before.append(0)
        elif padding == "full":
            before.append(k_eff - 1)
        elif theano:
            before.append(k_eff // 2)
        else:
            before.append(max((x.shape[1 + a] - 1) * strides[a] + k_eff - length[a], 0) // 2)
    y = np.zeros((x.shape[0], *length, kernel.shape[-2]))
    for b in range(x.shape[0]):
        for j in itertools.product(*map(range, x.shape[1:-1])):
            for i in itertools.product(*map(range, k)):
                t = _cells(j, i, strides, d, before)
                if _inside(t, length):
                    y[(b, *t)] += kernel[i].astype(np.float64) @ x[(b, *j)].astype(np.float64)
    return y


def locally_connected(x, kernel, kernel_size, strides, channels_first_order=False):
    """Unshared 'valid' conv: kernel (P, prod(k)*C, F); each window flattened (*k, C), or (C, *k) when
    `channels_first_order` (as tf.keras `local_conv` does for channels_first). -> (batch, *out, F)."""
    nd = x.ndim - 2
    out = [(x.shape[1 + a] - kernel_size[a]) // strides[a] + 1 for a in range(nd)]
    y = np.zeros((x.shape[0], *out, kernel.shape[-1]))
    for p, j in enumerate(itertools.product(*map(range, out))):
        sl = tuple(slice(j[a] * strides[a], j[a] * strides[a] + kernel_size[a]) for a in range(nd))
        patch = x[(slice(None),) + sl]  # (batch, *k, C)
        if channels_first_order:
            patch = np.moveaxis(patch, -1, 1)
        cell: tuple[slice | int, ...] = (slice(None), *j)
        y[cell] = patch.reshape(x.shape[0], -1).astype(np.float64) @ kernel[p].astype(np.float64)
    return y


def pool(x, pool_size, strides, padding, mode, theano=False, count_pad=False, rank=None):
    """Max ('max') or average ('avg') pooling over the real cells of each window (count_pad: divide by prod(k))."""
    nd = x.ndim - 2
    geo = [pool_geometry(x.shape[1 + a], pool_size[a], strides[a], padding, theano, rank or nd) for a in range(nd)]
    out, before = [g[0] for g in geo], [g[1] for g in geo]
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for j in itertools.product(*map(range, out)):
        sl = []
        for a in range(nd):
            lo = j[a] * strides[a] - before[a]
            sl.append(slice(max(lo, 0), min(lo + pool_size[a], x.shape[1 + a])))
        cells = x[(slice(None), *sl)].astype(np.float64).reshape(x.shape[0], -1, x.shape[-1])
        cell: tuple[slice | int, ...] = (slice(None), *j)
        if mode == "max":
            y[cell] = cells.max(axis=1)
        else:
            y[cell] = cells.sum(axis=1) / (np.prod(pool_size) if count_pad else cells.shape[1])
    return y
