"""ONNX's reductions (axes from the attribute or, opset 18, the second input) and
ArgMax / ArgMin."""
from __future__ import annotations

import functools

from ... import ops
from ...ir import bool_, int32, int64
from .context import converter

REDUCE = {
    "ReduceSum": ops.reduce_sum, "ReduceMean": ops.reduce_mean, "ReduceMax": ops.reduce_max,
    "ReduceMin": ops.reduce_min, "ReduceProd": ops.reduce_prod,
    "ReduceLogSumExp": ops.reduce_logsumexp,
    "ReduceL1": lambda x, axes, keepdims: ops.reduce_sum(ops.abs(x), axes, keepdims),
    "ReduceL2": lambda x, axes, keepdims: ops.sqrt(ops.reduce_sum(x * x, axes, keepdims)),
    "ReduceSumSquare": lambda x, axes, keepdims: ops.reduce_sum(x * x, axes, keepdims),
    "ReduceLogSum": lambda x, axes, keepdims: ops.log(ops.reduce_sum(x, axes, keepdims)),
}


def _reduce(fn, ctx):
    x = ctx.input(0)
    if x.dtype == bool_ and ctx.op_type in ("ReduceMax", "ReduceMin"):
        # any / all, as graphc's reduce_any and reduce_all compute them
        return _reduce(fn, ctx.with_input(0, ops.cast(x, int32))) > 0
    axes = ctx.static_ints(1, None) if ctx.num_inputs > 1 else ctx.attr("axes", None)
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return ops.identity(x)
        axes = list(range(x.rank))
    return fn(x, [a % x.rank for a in axes], keepdims=bool(ctx.attr("keepdims", 1)))


for _type, _fn in REDUCE.items():
    converter(_type, attrs=("axes", "keepdims", "noop_with_empty_axes"))(
        functools.partial(_reduce, _fn))


def _arg(fn, ctx):
    x = ctx.input(0)
    axis = ctx.attr("axis", 0) % x.rank
    if ctx.attr("select_last_index", 0):
        # the last extreme is the first one of the reversed axis
        if x.shape[axis] is None:
            raise ctx.error("select_last_index=1 needs the axis' size, unknown here")
        flipped = x[(slice(None),) * axis + (slice(None, None, -1),)]
        y = (x.shape[axis] - 1) - fn(flipped, axis, output_type=int64)
    else:
        y = fn(x, axis, output_type=int64)
    return ops.expand_dims(y, axis) if ctx.attr("keepdims", 1) else y


for _type, _fn in {"ArgMax": ops.argmax, "ArgMin": ops.argmin}.items():
    converter(_type, attrs=("axis", "keepdims", "select_last_index"))(
        functools.partial(_arg, _fn))
