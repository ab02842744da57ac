"""ONNX's normalisations beside BatchNormalization and LayerNormalization:
RMSNormalization, GroupNormalization, InstanceNormalization, LRN, LpNormalization and
MeanVarianceNormalization, each on its graphc function (channels at ONNX's axis 1)."""
from __future__ import annotations

import math

import numpy as np

from ... import ops
from ...ops import nn_extra, normalization
from .context import converter
from .layout import through_transpose


@converter("RMSNormalization", attrs=("axis", "epsilon", "stash_type"))
def rms_normalization(ctx):
    return normalization.rms_normalization(ctx.input(0), ctx.input(1),
                                           begin_axis=ctx.attr("axis", -1),
                                           epsilon=ctx.attr("epsilon", 1e-5))


@converter("GroupNormalization", attrs=("epsilon", "num_groups", "stash_type"))
def group_normalization(ctx):
    x, groups = ctx.input(0), ctx.attr("num_groups")
    scale, bias = ctx.input(1), ctx.input(2)
    channels = x.shape[1]
    if scale.shape[0] == groups != channels:
        # opset 18's per-group scale and bias: each group's value for its channels
        if channels is None:
            raise ctx.error("per-group scale and bias need the channel count")
        index = ops.constant(np.arange(channels) // (channels // groups))
        scale, bias = ops.gather(scale, index), ops.gather(bias, index)
    return through_transpose(x, lambda t, axis: normalization.group_normalization(
        t, groups, scale, bias, epsilon=ctx.attr("epsilon", 1e-5), channels_axis=axis))


@converter("InstanceNormalization", attrs=("epsilon",))
def instance_normalization(ctx):
    return through_transpose(ctx.input(0), lambda t, axis:
                             normalization.instance_normalization(
                                 t, ctx.input(1), ctx.input(2),
                                 epsilon=ctx.attr("epsilon", 1e-5), channels_axis=axis))


@converter("LRN", attrs=("alpha", "beta", "bias", "size"))
def lrn(ctx):
    """Channels (axis 1) moved last for TF1's lrn; ONNX's window of `size` channels
    starts ⌊(size − 1)/2⌋ before the channel, and alpha is divided by size."""
    x, size = ctx.input(0), ctx.attr("size")
    last = list(range(x.rank))
    last = [0] + last[2:] + [1]
    y = normalization.local_response_normalization(
        ops.transpose(x, last), ((size - 1) // 2, math.ceil((size - 1) / 2)),
        bias=ctx.attr("bias", 1.0), alpha=ctx.attr("alpha", 1e-4) / size,
        beta=ctx.attr("beta", 0.75))
    return ops.transpose(y, list(np.argsort(last)))


@converter("LpNormalization", attrs=("axis", "p"))
def lp_normalization(ctx):
    p = ctx.require("p", (1, 2), 2)
    return normalization.lp_normalize(ctx.input(0), p, ctx.attr("axis", -1))


@converter("MeanVarianceNormalization", attrs=("axes",))
def mean_variance_normalization(ctx):
    """(x − mean) / √variance over `axes`, guarded by ONNX's ε of 1e-9."""
    x = ctx.input(0)
    mean, variance = nn_extra.moments(x, ctx.attr("axes", [0, 2, 3]), keepdims=True)
    return nn_extra.batch_normalization(x, mean, variance, None, None, 1e-9)
