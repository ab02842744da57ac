"""TF1's stack, unstack, reverse, gather_nd and boolean_mask, composed of primitive ops
(concat, slices, gather), so their gradients and lowering come from those.

gather_nd turns each index tuple into a row number of params flattened over the
indexed axes and gathers rows: gather's run-time check then covers every index (a tuple
with a component out of range is sent to row −n−1, which the check refuses).
boolean_mask needs the mask's values when the graph is built (a constant), because its
result's size depends on them.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor, normalize_axes, normalize_axis
from .composite_reduce import reduce_any
from .elementwise import greater_equal, less, logical_or, where
from .indexing import gather, getitem
from .reduce import reduce_sum
from .shape import concat, expand_dims, reshape
from .state import constant


def stack(values, axis=0, name="stack") -> Node:
    """The tensors (of one shape) along a new axis."""
    values = [as_tensor(v) for v in values]
    if not values:
        raise ValueError("stack needs at least one tensor")
    axis = normalize_axis(int(axis), values[0].rank + 1)
    return concat([expand_dims(v, axis) for v in values], axis, name=name) \
        if len(values) > 1 else expand_dims(values[0], axis, name=name)


def unstack(value, num=None, axis=0, name="unstack") -> list[Node]:
    """The slices of `value` along `axis` (which must have a known size)."""
    value = as_tensor(value)
    axis = normalize_axis(int(axis), value.rank)
    n = value.shape[axis] if num is None else int(num)
    if n is None:
        raise ShapeError(f"unstack of '{value.name}' {value.type}: axis {axis} has an "
                         "unknown size; give num=")
    head = (builtins.slice(None),) * axis
    return [getitem(value, head + (i,), name=f"{name}_{i}") for i in builtins.range(n)]


def reverse(tensor, axis, name=None) -> Node:
    """`tensor` with the order of elements along each of `axis` reversed."""
    tensor = as_tensor(tensor)
    axes = normalize_axes(axis, tensor.rank)
    index = tuple(builtins.slice(None, None, -1) if a in axes else builtins.slice(None)
                  for a in builtins.range(tensor.rank))
    return getitem(tensor, index, name=name or "reverse")


def gather_nd(params, indices, name=None, batch_dims=0) -> Node:
    """out[i...] = params[indices[i..., 0], ..., indices[i..., k−1], ...]: the last axis
    of `indices` indexes the first k axes of params (all but the first need known
    sizes).

    batch_dims=b (TF's): the first b axes of params and indices are batch axes of
    equal, known sizes, and each index tuple indexes its own batch element's params —
    the tuples get their batch position prepended (a constant grid)."""
    params, indices = as_tensor(params), as_tensor(indices)
    if not indices.dtype.is_integer:
        raise TypeError(f"gather_nd indices must be integers, got {indices.type}")
    if batch_dims:
        indices = _with_batch_positions(params, indices, int(batch_dims))
    k = indices.shape[-1] if indices.rank else None
    if k is None or k > params.rank:
        raise ShapeError(f"gather_nd: the last axis of indices {indices.type} must have a "
                         f"known size of at most the rank of params {params.type}")
    dims = params.shape[:k]
    if None in dims[1:]:
        raise ShapeError(f"gather_nd: axes 1..{k - 1} of params {params.type} need known "
                         "sizes")
    info = np.iinfo(indices.dtype.np_type)
    strides = np.cumprod((1,) + dims[:0:-1])[::-1].astype(indices.dtype.np_type)
    row = reduce_sum(indices * constant(strides), -1)
    # the first axis may be the batch: its upper bound is left to gather's own check
    bounds = constant(np.asarray([info.max if d is None else d for d in dims],
                                 indices.dtype.np_type))
    outside = reduce_any(logical_or(less(indices, 0), greater_equal(indices, bounds)), -1)
    row = where(outside, constant(info.min, indices.dtype), row)
    rows = -1 if dims[0] is None else int(np.prod(dims))
    flat = reshape(params, (rows,) + tuple(-1 if d is None else d for d in params.shape[k:]))
    return gather(flat, row, name=name or "gather_nd")


def _with_batch_positions(params, indices, b: int) -> Node:
    """indices (B..., X..., k) → (B..., X..., b + k): each tuple led by its batch index."""
    batch = tuple(indices.shape[:b])
    if not 0 < b < indices.rank or None in batch or tuple(params.shape[:b]) != batch \
            or None in indices.shape:
        raise ShapeError(f"gather_nd with batch_dims={b}: params {params.type} and indices "
                         f"{indices.type} need {b} leading batch axes of equal known sizes "
                         "(and indices a known shape)")
    grid = np.moveaxis(np.indices(batch, dtype=indices.dtype.np_type), 0, -1)
    middle = indices.rank - 1 - b
    grid = grid.reshape(batch + (1,) * middle + (b,))
    positions = np.broadcast_to(grid, tuple(indices.shape[:-1]) + (b,))
    return concat([constant(np.ascontiguousarray(positions)), indices], -1)


def boolean_mask(tensor, mask, axis=0, name=None) -> Node:
    """The elements (or slices) of `tensor` where `mask` is true, flattened over the
    mask's axes. The result's size depends on the mask's values, so the mask must be a
    constant when the graph is built (gc.where keeps the shape with any mask)."""
    tensor, mask = as_tensor(tensor), as_tensor(mask)
    if not mask.dtype.is_bool:
        raise TypeError(f"boolean_mask needs a bool mask, got {mask.type}")
    if mask.op.name != "constant":
        raise ShapeError(f"boolean_mask: the mask '{mask.name}' is computed at run time, so "
                         "the result's size is unknown when the graph is built; graphc "
                         "needs a constant mask (or use gc.where to zero the elements "
                         "instead)")
    axis = normalize_axis(int(axis), tensor.rank)
    k = mask.rank
    if tuple(tensor.shape[axis:axis + k]) != tuple(mask.shape):
        raise ShapeError(f"boolean_mask: mask {mask.type} does not match axes {axis}.."
                         f"{axis + k - 1} of {tensor.type}")
    picked = np.flatnonzero(mask.attrs["value"]).astype(np.int64)
    shape = [-1 if d is None else d for d in tensor.shape]
    flat = reshape(tensor, shape[:axis] + [int(np.prod(mask.shape))] + shape[axis + k:]) \
        if k != 1 else tensor
    return gather(flat, constant(picked), axis=axis, name=name or "boolean_mask")

