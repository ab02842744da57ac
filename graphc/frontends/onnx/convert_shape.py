"""ONNX's shape and data-movement ops (Trilu among them), and its constants. Shapes,
axes, pads and slice bounds must be known while the graph is built (`ctx.static`)."""
from __future__ import annotations

import builtins
import math

import numpy as np

from ... import ops
from ...ir import int64
from ...ops.base import broadcast_shapes
from .context import converter
from .dtypes import TO_GRAPHC, onnx_type_name


@converter("Constant", attrs=("value", "value_float", "value_floats", "value_int",
                              "value_ints"))
def constant(ctx):
    for attr, dtype in (("value", None), ("value_float", np.float32),
                        ("value_floats", np.float32), ("value_int", np.int64),
                        ("value_ints", np.int64)):
        if attr in {a.name for a in ctx.node.attribute}:
            value = np.asarray(ctx.attr(attr), dtype=dtype)
            if value.dtype not in [d.np_type for d in TO_GRAPHC.values()]:
                raise ctx.error(f"a constant of dtype {value.dtype}: graphc lacks it")
            return ops.constant(value)
    raise ctx.error("no value attribute")


@converter("ConstantOfShape", attrs=("value",))
def constant_of_shape(ctx):
    value = ctx.attr("value", np.zeros(1, np.float32))
    return ops.constant(np.full(ctx.static_ints(0), value.reshape(()), value.dtype))


@converter("Range")
def range_(ctx):
    # scalars by the spec; one-element tensors (as expanded functions pass) are read alike
    start, limit, delta = (ctx.static(i).reshape(()) for i in range(3))
    return ops.constant(np.arange(start, limit, delta, dtype=start.dtype))


@converter("Shape", attrs=("start", "end"))
def shape(ctx):
    x = ctx.input(0)
    picked = builtins.slice(ctx.attr("start", 0), ctx.attr("end", None))
    if None not in x.shape:
        return ops.constant(np.array(x.shape, np.int64)[picked])
    return ops.shape(x, out_type=int64)[picked]


@converter("Size")
def size(ctx):
    x = ctx.input(0)
    if None not in x.shape:
        return ops.constant(np.int64(math.prod(x.shape)))
    return ops.size(x, out_type=int64)


@converter("Reshape", attrs=("allowzero",))
def reshape(ctx):
    x, shape = ctx.input(0), ctx.static_ints(1)
    if not ctx.attr("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    if None in shape:
        if -1 in shape or shape.count(None) > 1:
            raise ctx.error(f"reshape of {x.type} to {shape}: more than one unknown size")
        shape = [-1 if d is None else d for d in shape]
    return ops.reshape(x, shape)


@converter("Flatten", attrs=("axis",))
def flatten(ctx):
    x = ctx.input(0)
    axis = ctx.attr("axis", 1)
    axis = axis + x.rank if axis < 0 else axis
    outer, inner = x.shape[:axis], x.shape[axis:]
    dims = [-1 if None in part else math.prod(part) for part in (outer, inner)]
    if dims == [-1, -1]:
        raise ctx.error(f"flatten of {x.type}: unknown sizes on both sides of axis {axis}")
    return ops.reshape(x, dims)


@converter("Transpose", attrs=("perm",))
def transpose(ctx):
    x = ctx.input(0)
    return ops.transpose(x, ctx.attr("perm", list(reversed(range(x.rank)))))


@converter("Concat", attrs=("axis",))
def concat(ctx):
    return ops.concat(ctx.inputs(), ctx.attr("axis"))


@converter("Split", attrs=("axis", "split", "num_outputs"))
def split(ctx):
    x = ctx.input(0)
    axis = ctx.attr("axis", 0) % x.rank
    sizes = ctx.static_ints(1, None) if ctx.num_inputs > 1 else ctx.attr("split", None)
    if sizes is None:
        parts, dim = len(ctx.node.output), x.shape[axis]
        if dim is None:
            raise ctx.error(f"split of the unknown axis {axis} of {x.type}")
        chunk = math.ceil(dim / parts)
        sizes = [chunk] * (parts - 1) + [dim - chunk * (parts - 1)]
    return ops.split(x, list(sizes), axis)


@converter("Slice")
def slice_(ctx):
    x = ctx.input(0)
    starts, ends = ctx.static_ints(1), ctx.static_ints(2)
    axes = ctx.static_ints(3, None) or list(range(len(starts)))
    steps = ctx.static_ints(4, None) or [1] * len(starts)
    index = [builtins.slice(None)] * x.rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis % x.rank] = _python_slice(start, end, step, x.shape[axis % x.rank])
    return x[tuple(index)]


def _python_slice(start, end, step, dim):
    """ONNX's clamped bounds as a Python slice graphc takes."""
    if dim is None:
        big = 2 ** 31
        return builtins.slice(start, None if abs(end) >= big else end, step)
    start, end, step = builtins.slice(start, end, step).indices(dim)
    return builtins.slice(start, None if end < 0 else end, step)


@converter("Squeeze")
def squeeze(ctx):
    x = ctx.input(0)
    axes = ctx.static_ints(1, None)
    return ops.squeeze(x, None if axes is None else [a % x.rank for a in axes])


@converter("Unsqueeze")
def unsqueeze(ctx):
    x, axes = ctx.input(0), ctx.static_ints(1)
    rank = x.rank + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = ops.expand_dims(x, axis)
    return x


@converter("Gather", attrs=("axis",))
def gather(ctx):
    params = ctx.input(0)
    axis = ctx.attr("axis", 0) % params.rank
    indices = ctx.input(1)
    known = ctx.static(1, None) if indices.op.name == "constant" else None
    if known is not None and params.shape[axis] is not None:
        indices = ops.constant(np.where(known < 0, known + params.shape[axis], known))
    return ops.gather(params, indices, axis=axis)


@converter("GatherND", attrs=("batch_dims",))
def gather_nd(ctx):
    return ops.gather_nd(ctx.input(0), ctx.input(1), batch_dims=ctx.attr("batch_dims", 0))


@converter("GatherElements", attrs=("axis",))
def gather_elements(ctx):
    """graphc's gather_nd with a constructed index: the indices along `axis`, each other
    axis's own position (a constant, from the indices' static shape)."""
    x, indices = ctx.input(0), ctx.input(1)
    axis = ctx.attr("axis", 0) % x.rank
    if None in indices.shape or x.shape[axis] is None:
        raise ctx.error("the indices' shape and the data's size along axis must be known")
    indices = ops.where(ops.less(indices, 0), indices + x.shape[axis], indices)
    grid = np.indices(indices.shape, dtype=indices.dtype.np_type)
    return ops.gather_nd(x, ops.stack([indices if a == axis else ops.constant(grid[a])
                                       for a in range(x.rank)], axis=-1))


@converter("EyeLike", attrs=("dtype", "k"))
def eye_like(ctx):
    x = ctx.input(0)
    if x.rank != 2 or None in x.shape:
        raise ctx.error(f"the input {x.type} must be a matrix of known shape")
    to = ctx.attr("dtype", None)
    if to is not None and to not in TO_GRAPHC:
        raise ctx.error(f"dtype {onnx_type_name(to)}: graphc lacks that dtype")
    return ops.eye(*x.shape, dtype=x.dtype if to is None else TO_GRAPHC[to],
                   k=ctx.attr("k", 0))


@converter("Pad", attrs=("mode",))
def pad(ctx):
    mode = ctx.require("mode", ("constant", "reflect", "edge", "wrap"), "constant")
    x, pads = ctx.input(0), ctx.static_ints(1)
    axes = ctx.static_ints(3, None) or list(range(x.rank))
    value = ctx.static(2, None)
    if min(pads) < 0:
        raise ctx.error(f"negative pads {pads} (cropping) are not supported")
    pairs = [(0, 0)] * x.rank
    for i, axis in enumerate(axes):
        pairs[axis % x.rank] = (pads[i], pads[i + len(axes)])
    return ops.pad(x, pairs, mode=mode, constant_values=0 if value is None else value.item())


@converter("Expand")
def expand(ctx):
    x, shape = ctx.input(0), ctx.static_ints(1)
    return ops.broadcast_to(x, broadcast_shapes(x.shape, tuple(shape)))


@converter("Tile")
def tile(ctx):
    return ops.tile(ctx.input(0), ctx.static_ints(1))


@converter("OneHot", attrs=("axis",))
def one_hot(ctx):
    depth, values, indices = int(ctx.static(1)), ctx.static(2), ctx.input(0)
    if not indices.dtype.is_integer:      # ONNX takes float indices too
        indices = ops.cast(indices, int64)
    indices = ops.where(indices < 0, indices + depth, indices)   # from the end
    y = ops.one_hot(indices, depth, on_value=values[1].item(), off_value=values[0].item(),
                    dtype=ctx.input(2).dtype)
    axis = ctx.attr("axis", -1) % y.rank
    if axis == y.rank - 1:
        return y
    perm = list(range(y.rank - 1))
    return ops.transpose(y, perm[:axis] + [y.rank - 1] + perm[axis:])


@converter("Trilu", attrs=("upper",))
def trilu(ctx):
    """The upper (or lower) triangle of the last two axes, from the k-th diagonal on:
    a constant mask (static shapes) selecting x or zero."""
    x, k = ctx.input(0), ctx.static_ints(1, [0])[0]
    if None in x.shape[-2:]:
        raise ctx.error("the last two axes' sizes must be known")
    rows, cols = x.shape[-2:]
    mask = (np.triu if ctx.attr("upper", 1) else np.tril)(np.ones((rows, cols), bool), k)
    return ops.where(ops.constant(mask), x, ops.zeros_like(x))
