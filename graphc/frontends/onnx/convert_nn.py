"""ONNX's neural-network ops: Gemm, MatMul, Det, Conv, the poolings, BatchNormalization,
ConvTranspose, LayerNormalization, Softmax, NegativeLogLikelihoodLoss,
SoftmaxCrossEntropyLoss, Dropout, Einsum, TopK, CumSum, CumProd, LpPool, Hardmax."""
from __future__ import annotations

import functools
import math

import numpy as np

from ... import ops
from ...ir import bool_, int64
from ...ops.conv_nd import conv3d, conv3d_transpose, grouped_conv2d
from ...ops.nn_tf1 import conv2d_transpose
from ...ops.depthwise import depthwise_conv2d
from ...ops import nn_extra
from ...ops.activations import hardmax as hardmax_
from ...ops.determinant import det as det_
from ...ops.losses import nll_loss
from ...ops.lp_pool import lp_pool2d
from ...ops.pool import avg_pool2d, max_pool2d, max_pool_with_argmax
from ...ops.pool3d import avg_pool3d, max_pool3d
from ...ops.softmax import log_softmax as log_softmax_
from ...ops.softmax import softmax as softmax_
from .context import converter
from .layout import (as_nhwc, from_nhwc, padding, pairs, pairs_of_pads, spatial_rank,
                     through_transpose)


@converter("MatMul")
def matmul(ctx):
    a, b = ctx.input(0), ctx.input(1)
    if a.rank == 1 and b.rank == 1:
        return ops.reduce_sum(a * b)
    y = ops.matmul(ops.expand_dims(a, 0) if a.rank == 1 else a,
                   ops.expand_dims(b, -1) if b.rank == 1 else b)
    if a.rank == 1:
        return ops.squeeze(y, [-2])
    return ops.squeeze(y, [-1]) if b.rank == 1 else y


@converter("Det")
def det(ctx):
    return det_(ctx.input(0))


@converter("Gemm", attrs=("alpha", "beta", "transA", "transB"))
def gemm(ctx):
    y = ops.matmul(ctx.input(0), ctx.input(1), transpose_a=bool(ctx.attr("transA", 0)),
                   transpose_b=bool(ctx.attr("transB", 0)))
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if ctx.has_input(2):
        c = ctx.input(2)
        y = y + (c * beta if beta != 1.0 else c)
    return y


def _window(ctx, x, kernel, ranks=(1, 2)):
    """(rank, strides, dilations, padding) of a conv or pool node over x."""
    rank = spatial_rank(ctx, x, ranks)
    strides = pairs(ctx.attr("strides", [1] * rank), rank, 1)
    dilations = pairs(ctx.attr("dilations", [1] * rank), rank, 1)
    in_hw = pairs(x.shape[2:], rank, 1)
    return rank, strides, dilations, padding(ctx, in_hw, kernel, strides, dilations, rank)


_HWIO = {1: (2, 3, 1, 0), 2: (2, 3, 1, 0), 3: (2, 3, 4, 1, 0)}    # from ONNX's O, I, k...


@converter("Conv", attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads",
                          "strides"))
def conv(ctx):
    x, w = ctx.input(0), ctx.input(1)
    rank = spatial_rank(ctx, x, (1, 2, 3))
    if rank == 1:
        w = ops.expand_dims(w, 2)
    kernel = list(w.shape[2:])
    rank, strides, dilations, pads = _window(ctx, x, kernel, (1, 2, 3))
    group, c_in, c_out = ctx.attr("group", 1), x.shape[1], w.shape[0]
    xh = as_nhwc(x, rank)
    if rank == 3:
        y = conv3d(xh, ops.transpose(w, _HWIO[3]), strides, pads, dilations, groups=group)
    elif group == c_in and group > 1 and c_out % group == 0:
        # depthwise: output channel c·M + m reads input channel c
        wd = ops.transpose(ops.reshape(w, (c_in, c_out // c_in) + tuple(kernel)),
                           (2, 3, 0, 1))
        y = depthwise_conv2d(xh, wd, strides=[1, *strides, 1],
                                padding=[[0, 0], *pads, [0, 0]],
                                dilations=dilations)
    else:
        y = grouped_conv2d(xh, ops.transpose(w, _HWIO[2]), group, strides=strides,
                           padding=pads, dilations=dilations)
    if ctx.has_input(2):
        y = nn_extra.bias_add(y, ctx.input(2))
    return from_nhwc(y, rank)


def _ceil_extra(ctx, x, kernel, strides, dilations, pads, rank):
    """ceil_mode=1 as extra end padding: enough for one more (partial) window, which
    must start inside the input or its begin padding (ONNX's rule)."""
    if not ctx.attr("ceil_mode", 0):
        return pads
    sides = []
    for n, k, s, d, (lo, hi) in zip(pairs(x.shape[2:], rank, 1), kernel, strides,
                                      dilations, pads):
        if n is None:
            raise ctx.error("ceil_mode=1 needs the input's spatial size, unknown here")
        span = n + lo + hi - (k - 1) * d - 1
        out = math.ceil(span / s) + 1
        if (out - 1) * s >= n + lo:
            out -= 1
        sides.append((lo, max((out - 1) * s + (k - 1) * d + 1 - n - lo, hi)))
    return tuple(sides)


_POOL_ATTRS = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")


@converter("MaxPool", attrs=_POOL_ATTRS + ("storage_order",))
def max_pool(ctx):
    if ctx.input(0).rank == 5:
        if len(ctx.node.output) > 1 and ctx.node.output[1]:
            raise ctx.error("output 1 (Indices) of a 3-D MaxPool is not supported "
                            "(gc.nn.max_pool_with_argmax is 2-D)")
        return _pool(ctx, max_pool3d)
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        return _pool(ctx, functools.partial(_max_pool_indices, ctx))
    return _pool(ctx, max_pool2d)


def _max_pool_indices(ctx, xh, kernel, strides, padding, dilations):
    """[pooled, Indices]: TF1's argmax numbering of NHWC x, (n·H·W + h·W + w)·C + c,
    renumbered as ONNX's flat NCHW index (n·C + c)·H·W + h·W + w (storage_order=1:
    w·H + h)."""
    pooled, index = max_pool_with_argmax(xh, kernel, strides, padding,
                                         include_batch_in_index=True, dilations=dilations)
    _, h, w, c = xh.shape
    if None in (h, w, c):
        raise ctx.error("output 1 (Indices) needs the input's spatial sizes and channels")
    channel, position = index % c, index // c
    n, hw = position // (h * w), position % (h * w)
    if ctx.attr("storage_order", 0):
        hw = hw % w * h + hw // w
    return [pooled, (n * c + channel) * (h * w) + hw]


@converter("AveragePool", attrs=_POOL_ATTRS + ("count_include_pad",))
def average_pool(ctx):
    return _pool(ctx, avg_pool3d if ctx.input(0).rank == 5 else avg_pool2d)


def _pool(ctx, pool):
    """pool(NHWC x, kernel, strides, padding=, dilations=) -> a result or a list, each
    NHWC, returned channels-first."""
    x = ctx.input(0)
    rank = spatial_rank(ctx, x, (1, 2, 3))
    kernel = pairs(ctx.attr("kernel_shape"), rank, 1)
    rank, strides, dilations, pads = _window(ctx, x, kernel, (1, 2, 3))
    xh = as_nhwc(x, rank)
    ceil_pads = _ceil_extra(ctx, x, kernel, strides, dilations, pads, rank)
    if ctx.attr("count_include_pad", 0) and any(map(any, pads)):
        # padded zeros count in the mean: pad first, then pool the padded input; only
        # ceil_mode's extra end padding stays out of the count
        xh = ops.pad(xh, [(0, 0), *pads, (0, 0)])
        ceil_pads = tuple((0, hi - p_hi) for (_, hi), (_, p_hi) in zip(ceil_pads, pads))
    pads = ceil_pads
    y = pool(xh, kernel, strides, padding=pads, dilations=dilations)
    return [from_nhwc(r, rank) for r in y] if isinstance(y, list) else from_nhwc(y, rank)


@converter("LpPool", attrs=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "p",
                            "pads", "strides"))
def lp_pool(ctx):
    x = ctx.input(0)
    rank = spatial_rank(ctx, x)
    kernel = pairs(ctx.attr("kernel_shape"), rank, 1)
    rank, strides, dilations, pads = _window(ctx, x, kernel)
    pads = _ceil_extra(ctx, x, kernel, strides, dilations, pads, rank)
    return from_nhwc(lp_pool2d(as_nhwc(x, rank), ctx.attr("p", 2), kernel, strides,
                               padding=pads, dilations=dilations), rank)


@converter("GlobalAveragePool")
def global_average_pool(ctx):
    x = ctx.input(0)
    return ops.reduce_mean(x, list(range(2, x.rank)), keepdims=True)


@converter("GlobalMaxPool")
def global_max_pool(ctx):
    x = ctx.input(0)
    return ops.reduce_max(x, list(range(2, x.rank)), keepdims=True)


@converter("BatchNormalization", attrs=("epsilon", "momentum", "training_mode"))
def batch_normalization(ctx):
    """Inference: the given mean and var. training_mode=1: the batch's mean and biased
    variance (`gc.nn.moments`) normalize, and the running mean / var outputs are
    momentum · given + (1 − momentum) · batch."""
    training = ctx.require("training_mode", (0, 1), 0)
    if not training and len([o for o in ctx.node.output if o]) > 1:
        raise ctx.error("the running-statistics outputs need training_mode=1")
    x, eps = ctx.input(0), ctx.attr("epsilon", 1e-5)
    if training:
        mean, var = nn_extra.moments(x, [a for a in range(x.rank) if a != 1])
        momentum = ctx.attr("momentum", 0.9)
        running = [ctx.input(i) * momentum + batch * (1.0 - momentum)
                   for i, batch in ((3, mean), (4, var))]
    else:
        mean, var = ctx.input(3), ctx.input(4)

    def normalize(x, channel_axis):
        def per_channel(v):
            shape = [1] * x.rank
            shape[channel_axis] = -1
            return ops.reshape(v, shape)
        return nn_extra.batch_normalization(x, per_channel(mean), per_channel(var),
                                            per_channel(ctx.input(2)),
                                            per_channel(ctx.input(1)), eps)
    y = through_transpose(x, normalize) if not training else normalize(x, 1)
    return [y, *running] if training else y


@converter("Softmax", attrs=("axis",))
def softmax(ctx):
    return softmax_(ctx.input(0), ctx.attr("axis", -1))


@converter("LogSoftmax", attrs=("axis",))
def log_softmax(ctx):
    return log_softmax_(ctx.input(0), ctx.attr("axis", -1))


def _nll(ctx, log_probs):
    return nll_loss(log_probs, ctx.input(1), ctx.input(2) if ctx.has_input(2) else None,
                    ctx.attr("ignore_index", None), ctx.attr("reduction", "mean"))


@converter("NegativeLogLikelihoodLoss", attrs=("ignore_index", "reduction"))
def negative_log_likelihood_loss(ctx):
    return _nll(ctx, ctx.input(0))


@converter("SoftmaxCrossEntropyLoss", attrs=("ignore_index", "reduction"))
def softmax_cross_entropy_loss(ctx):
    return [_nll(ctx, log_prob := log_softmax_(ctx.input(0), 1)), log_prob]


@converter("Dropout", attrs=("seed",))
def dropout(ctx):
    """Inference (or a ratio of 0): the identity, and an all-true mask."""
    ratio = ctx.static(1, np.float32(0.5))
    if ctx.has_input(2) and bool(ctx.static(2)) and float(ratio) != 0.0:
        raise ctx.error("training_mode=true is not supported (inference only)")
    x = ops.identity(ctx.input(0))
    return [x, ops.cast(ops.ones_like(x), bool_)]


@converter("Einsum", attrs=("equation",))
def einsum(ctx):
    return ops.einsum(ctx.attr("equation").replace(" ", ""), *ctx.inputs())


@converter("CumSum", "CumProd", attrs=("exclusive", "reverse"))
def cumulative(ctx):
    scan = ops.cumsum if ctx.op_type == "CumSum" else ops.cumprod
    return scan(ctx.input(0), int(ctx.static(1)), exclusive=bool(ctx.attr("exclusive", 0)),
                reverse=bool(ctx.attr("reverse", 0)))


@converter("Hardmax", attrs=("axis",))
def hardmax(ctx):
    return hardmax_(ctx.input(0), ctx.attr("axis", -1))


@converter("TopK", attrs=("axis", "largest", "sorted"))
def top_k(ctx):
    x, k = ctx.input(0), ctx.static_ints(1)[0]
    axis = ctx.attr("axis", -1) % x.rank
    if axis != x.rank - 1:
        raise ctx.error(f"axis={ctx.attr('axis')}: graphc's top_k runs along the last axis")
    sign = 1 if ctx.attr("largest", 1) else -1
    values, indices = ops.top_k(x * sign if sign < 0 else x, k)
    return [values * sign if sign < 0 else values, ops.cast(indices, int64)]


@converter("ConvTranspose", attrs=("auto_pad", "dilations", "group", "kernel_shape",
                                   "output_padding", "output_shape", "pads", "strides"))
def conv_transpose(ctx):
    """graphc's conv2d_transpose / conv3d_transpose (grouped) onto the full (unpadded)
    output, then ONNX's pads (and output_padding / output_shape) as a slice or trailing
    zeros."""
    x, w = ctx.input(0), ctx.input(1)
    rank = spatial_rank(ctx, x, (1, 2, 3))
    if rank == 1:
        w = ops.expand_dims(w, 2)
    in_hw = pairs(x.shape[2:], rank, 1)
    if None in in_hw or x.shape[0] is None:
        raise ctx.error("the input's batch and spatial sizes must be known")
    kernel = list(w.shape[2:])
    strides = pairs(ctx.attr("strides", [1] * rank), rank, 1)
    dilations = pairs(ctx.attr("dilations", [1] * rank), rank, 1)
    out_pad = pairs(ctx.attr("output_padding", [0] * rank), rank, 0)
    full = [s * (n - 1) + (k - 1) * d + 1 for n, k, s, d in zip(in_hw, kernel, strides,
                                                                 dilations)]
    auto_pad = ctx.require("auto_pad", ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"),
                           "NOTSET")
    out_shape = ctx.attr("output_shape", None)
    if out_shape is not None:
        out_shape = pairs(list(out_shape)[-rank:], rank, 1)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = out_shape or [n * s for n, s in zip(in_hw, strides)]
        begins = []
        for f, p, o in zip(full, out_pad, out):
            total = f + p - o
            begins.append(total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
    else:
        pads = pairs_of_pads(ctx.attr("pads", [0] * (2 * rank)), rank) \
            if auto_pad == "NOTSET" else ((0, 0),) * len(full)
        begins = [lo for lo, _ in pads]
        out = out_shape or [f + p - lo - hi for f, p, (lo, hi) in zip(full, out_pad, pads)]
    group = ctx.attr("group", 1)
    transpose_fn = conv3d_transpose if rank == 3 else conv2d_transpose
    y = transpose_fn(as_nhwc(x, rank), ops.transpose(w, _HWIO[rank]),
                     (x.shape[0], *full, w.shape[1] * group), strides, "VALID",
                     dilations=dilations, groups=group)
    if any(b < 0 for b in begins):
        raise ctx.error(f"negative padding {begins} is not supported")
    keep = [min(o, f - b) for o, f, b in zip(out, full, begins)]
    y = ops.slice(y, [0, *begins, 0], [-1, *keep, -1])
    if keep != list(out):
        y = ops.pad(y, [(0, 0), *((0, o - k) for o, k in zip(out, keep)), (0, 0)])
    if ctx.has_input(2):
        y = nn_extra.bias_add(y, ctx.input(2))
    return from_nhwc(y, rank)


@converter("LayerNormalization", attrs=("axis", "epsilon", "stash_type"))
def layer_normalization(ctx):
    """graphc's layer_normalization; the Mean and InvStdDev outputs from `moments`."""
    x, eps = ctx.input(0), ctx.attr("epsilon", 1e-5)
    axis = ctx.attr("axis", -1) % x.rank
    y = nn_extra.layer_normalization(x, ctx.input(1),
                                     ctx.input(2) if ctx.has_input(2) else None,
                                     begin_axis=axis, epsilon=eps)
    outputs = [y]
    if len(ctx.node.output) > 1:
        mean, variance = nn_extra.moments(x, list(range(axis, x.rank)), keepdims=True)
        outputs += [mean, ops.rsqrt(variance + eps)][:len(ctx.node.output) - 1]
    return outputs if len(outputs) > 1 else y
