"""ONNX's scatters on graphc's tensor_scatter_nd: ScatterND as is, ScatterElements and
TensorScatter through a constructed index (each element's or slice's own position on
the other axes, from the static shapes, with the given positions along the scattered
axis), as GatherElements goes through gather_nd."""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ops.scatter import tensor_scatter_nd
from .context import converter

_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _reduction(ctx) -> str:
    reduction = ctx.require("reduction", _REDUCTIONS, "none")
    return "update" if reduction == "none" else reduction


def _index(ctx, along, shape, axis: int):
    """Index tuples [*shape, len(shape)]: `along` (broadcast to shape) on `axis`, each
    position's own coordinate on the other axes."""
    if None in shape:
        raise ctx.error(f"the updates' shape {shape} must be known")
    grid = np.indices(shape, dtype=along.dtype.np_type)
    along = along + ops.constant(np.zeros(shape, along.dtype.np_type))
    return ops.stack([along if a == axis else ops.constant(grid[a])
                      for a in range(len(shape))], axis=-1)


@converter("ScatterND", attrs=("reduction",))
def scatter_nd(ctx):
    return tensor_scatter_nd(ctx.input(0), ctx.input(1), ctx.input(2), _reduction(ctx))


@converter("ScatterElements", attrs=("axis", "reduction"))
def scatter_elements(ctx):
    data, indices, updates = ctx.input(0), ctx.input(1), ctx.input(2)
    axis = ctx.attr("axis", 0) % data.rank
    n = data.shape[axis]
    if n is None:
        raise ctx.error(f"the data's size along axis {axis} must be known")
    indices = ops.where(ops.less(indices, 0), indices + n, indices)
    return tensor_scatter_nd(data, _index(ctx, indices, updates.shape, axis), updates,
                             _reduction(ctx))


@converter("TensorScatter", attrs=("axis", "mode"))
def tensor_scatter(ctx):
    cache, update = ctx.input(0), ctx.input(1)
    axis = ctx.attr("axis", -2) % cache.rank
    mode = ctx.require("mode", ("linear", "circular"), "linear")
    length, size = update.shape[axis], cache.shape[axis]
    if axis == 0 or length is None or size is None:
        raise ctx.error(f"axis {axis} must be a known sequence axis after the batch axis")
    starts = ctx.input(2) if ctx.has_input(2) else \
        ops.constant(np.zeros(cache.shape[0] or 1, np.int64))
    shape = (1,) * (axis + 1)
    position = ops.reshape(starts, (-1,) + shape[1:]) + \
        ops.constant(np.arange(length, dtype=starts.dtype.np_type).reshape(
            shape[:axis] + (length,)))
    if mode == "circular":
        position = ops.floormod(position, ops.constant(size, starts.dtype))
    return tensor_scatter_nd(cache, _index(ctx, position, update.shape[:axis + 1], axis),
                             update)
