"""Template routines that kernels call (`Call` statements) instead of spelling out as
loops: the backends provide tuned versions, the loop-IR interpreter these numpy ones.

gemm(a, a_off, b, b_off, c, c_off, M, N, K, lda, ldb, ldc, trans_a, trans_b, beta, alpha)
    row-major C[M,N] = alpha·op(A)·op(B) + beta·C on flat buffers starting at the offsets
    (beta 0: C is not read); op(A) is A (M×K, row stride lda) or, with trans_a, Aᵀ of a
    K×M array; likewise B.
conv_direct(x, w, out, image, H, W, C_in, OH, OW, C_out, KH, KW, pad_h, pad_w, stride_h,
            stride_w, dilation_h, dilation_w)
    out[image] = conv2d(x[image], w) for NHWC x / out and HWIO w, zero padding: one image
    of a convolution with few output channels, without an im2col panel.
conv_filter_direct(x, dy, acc, acc_offset, image, H, W, C_in, OH, OW, C_out, KH, KW, pad_h,
                   pad_w, stride_h, stride_w, dilation_h, dilation_w)
    acc[acc_offset:] += the filter gradient of one image (HWIO, flat), x and dy NHWC.
block_sum(x, count, period, out)
    out[t] = Σ x[e] over e < count with e mod period = t, for t < period: a column sum's
    partial sums (period a multiple of 16), in vector registers on the LLVM backend.
"""
from __future__ import annotations

import numpy as np

from .loopir import (Assign, Binary, Call, Declare, Load, Local, Loop, Store, add, idx,
                     linear_index, mul, row_major_strides)
from .nests import Names


def _matrix(buf, off, rows, cols, ld):
    view = np.lib.stride_tricks.as_strided(buf[off:], shape=(rows, cols),
                                           strides=(ld * buf.itemsize, buf.itemsize))
    return view


def numpy_gemm(buffers, a, a_off, b, b_off, c, c_off, m, n, k, lda, ldb, ldc, trans_a,
               trans_b, beta, alpha):
    A = _matrix(buffers[a], a_off, k, m, lda).T if trans_a else \
        _matrix(buffers[a], a_off, m, k, lda)
    B = _matrix(buffers[b], b_off, n, k, ldb).T if trans_b else \
        _matrix(buffers[b], b_off, k, n, ldb)
    C = _matrix(buffers[c], c_off, m, n, ldc)
    product = (A @ B) * C.dtype.type(alpha)
    C[...] = C * C.dtype.type(beta) + product if beta else product


def numpy_print(buffers, target, callback, index):
    """`print(buffer, callback, k)`: the runtime prints print node k's value."""
    from ..ops.debug import format_print
    node = buffers[callback][index]
    value = buffers[target][: node.type.num_elements].reshape(node.shape)
    print(format_print(node, value), flush=True)


def numpy_block_sum(buffers, x, count, period, out):
    blocks, left = divmod(count, period)
    sums = buffers[x][: blocks * period].reshape(blocks, period).sum(0)
    sums[:left] += buffers[x][blocks * period: count]
    buffers[out][:period] = sums


def numpy_conv_direct(buffers, x, w, out, image, H, W, cin, OH, OW, cout, KH, KW, ph, pw, sh,
                      sw, dh, dw):
    xi = buffers[x][image * H * W * cin: (image + 1) * H * W * cin].reshape(H, W, cin)
    wk = buffers[w][: KH * KW * cin * cout].reshape(KH, KW, cin, cout)
    padded = np.zeros((H + 2 * ph + KH * dh, W + 2 * pw + KW * dw, cin), xi.dtype)
    padded[ph: ph + H, pw: pw + W] = xi
    result = np.zeros((OH, OW, cout), xi.dtype)
    for a in range(KH):
        for b in range(KW):
            taps = padded[a * dh: a * dh + (OH - 1) * sh + 1: sh,
                          b * dw: b * dw + (OW - 1) * sw + 1: sw]
            result += taps @ wk[a, b]
    buffers[out][image * OH * OW * cout: (image + 1) * OH * OW * cout] = result.reshape(-1)


def numpy_conv_filter_direct(buffers, x, dy, acc, offset, image, H, W, cin, OH, OW, cout, KH,
                             KW, ph, pw, sh, sw, dh, dw):
    xi = buffers[x][image * H * W * cin: (image + 1) * H * W * cin].reshape(H, W, cin)
    gi = buffers[dy][image * OH * OW * cout: (image + 1) * OH * OW * cout].reshape(OH, OW, cout)
    padded = np.zeros((H + 2 * ph + KH * dh, W + 2 * pw + KW * dw, cin), xi.dtype)
    padded[ph: ph + H, pw: pw + W] = xi
    grad = np.zeros((KH, KW, cin, cout), xi.dtype)
    for a in range(KH):
        for b in range(KW):
            taps = padded[a * dh: a * dh + (OH - 1) * sh + 1: sh,
                          b * dw: b * dw + (OW - 1) * sw + 1: sw]
            grad[a, b] = np.einsum("hwc,hwo->co", taps, gi)
    buffers[acc][offset: offset + grad.size] += grad.reshape(-1)


TEMPLATES_NUMPY = {"gemm": numpy_gemm, "print": numpy_print, "block_sum": numpy_block_sum,
                   "conv_direct": numpy_conv_direct,
                   "conv_filter_direct": numpy_conv_filter_direct}


def lower_matmul(node, buffer_of, out_buffer: str, names: Names, beta: float = 0.0,
                 alpha: float = 1.0) -> list:
    """A GEMM call per batch element (batch axes broadcast): out = alpha·a·b + beta·out."""
    a, b = node.inputs
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    m, n = node.shape[-2:]
    k = a.shape[-1] if not ta else a.shape[-2]
    lda, ldb = a.shape[-1], b.shape[-1]
    batch = node.shape[:-2]

    def offsets(x, index):
        """Element offset of matrix `index` of x's (broadcast) batch."""
        lead = len(batch) - (x.rank - 2)
        strides = row_major_strides(x.shape)[:-2]
        own = [index[lead + i] if d != 1 else idx(0) for i, d in enumerate(x.shape[:-2])]
        return linear_index(own, strides)

    def call(index):
        return [Call("gemm", (buffer_of(a), offsets(a, index), buffer_of(b), offsets(b, index),
                              out_buffer, linear_index(index, row_major_strides(node.shape)[:-2]),
                              size_arg(m), size_arg(n), size_arg(k), lda, ldb, n, ta, tb,
                              beta, alpha))]

    variables = [names.var("bt") for _ in batch]
    body = call(tuple(variables))
    for v, d in reversed(list(zip(variables, batch))):
        body = [Loop(v, idx(d), body, "serial")]
    return body


def size_arg(d):
    """A routine's size argument: an int, or the expression of a symbolic size."""
    return d if isinstance(d, int) else idx(d)


def expand_gemm(args, dtype, names: Names) -> list:
    """A `gemm` call as plain loops (the portable fallback a backend can render)."""
    a, a_off, b, b_off, c, c_off, m, n, k, lda, ldb, ldc, ta, tb, beta, alpha = args
    i, j, p = names.var("gi"), names.var("gj"), names.var("gp")
    acc = names.scalar("gacc")
    a_at = add(a_off, add(mul(p, idx(lda)), i) if ta else add(mul(i, idx(lda)), p))
    b_at = add(b_off, add(mul(j, idx(ldb)), p) if tb else add(mul(p, idx(ldb)), j))
    c_at = add(c_off, add(mul(i, idx(ldc)), j))
    from .loopir import const
    inner = Loop(p, idx(k), [Assign(acc, Binary("add", Local(acc, dtype),
                                                Binary("mul", Load(a, a_at, dtype),
                                                       Load(b, b_at, dtype))))])
    value = Local(acc, dtype)
    if alpha != 1:
        value = Binary("mul", value, const(alpha, dtype))
    if beta:
        old = Load(c, c_at, dtype)
        value = Binary("add", old if beta == 1 else Binary("mul", old, const(beta, dtype)),
                       value)
    return [Loop(i, idx(m), [Loop(j, idx(n), [Declare(acc, dtype, const(0, dtype)), inner,
                                               Store(c, c_at, value)], "vector")],
                 "parallel")]
