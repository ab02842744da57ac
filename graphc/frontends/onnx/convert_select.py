"""ONNX ops that pick elements by their values: ReverseSequence (any lengths, at run
time), and Compress, NonZero and Unique, whose output sizes depend on the data: their
deciding input must be known when the graph is built (a constant, or a graph input the
node-test backend binds), as graphc's boolean_mask, where and unique_all need."""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ops.data_dependent import unique_all, where_indices
from .context import converter


@converter("ReverseSequence", attrs=("batch_axis", "time_axis"))
def reverse_sequence(ctx):
    return ops.reverse_sequence(ctx.input(0), ctx.input(1), seq_axis=ctx.attr("time_axis", 0),
                                batch_axis=ctx.attr("batch_axis", 1))


@converter("Compress", attrs=("axis",))
def compress(ctx):
    x, condition = ctx.input(0), np.ravel(ctx.static(1)).astype(bool)
    axis = ctx.attr("axis", None)
    if axis is None:
        x, axis = ops.reshape(x, [-1]), 0
    size = x.shape[axis]
    if size is None or len(condition) > size:
        raise ctx.error(f"condition of length {len(condition)} against axis {axis} of "
                        f"{x.type}: it must be known and at most as long")
    mask = np.zeros(size, bool)
    mask[:len(condition)] = condition         # ONNX: missing entries are false
    return ops.boolean_mask(x, ops.constant(mask), axis=axis)


@converter("NonZero")
def nonzero(ctx):
    value = ctx.static(0)
    return ops.transpose(where_indices(ops.constant(value != 0)))


@converter("Unique", attrs=("axis", "sorted"))
def unique(ctx):
    x = ops.constant(ctx.static(0))
    return list(unique_all(x, axis=ctx.attr("axis", None), sorted=bool(ctx.attr("sorted", 1))))
