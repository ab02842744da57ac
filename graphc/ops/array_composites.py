"""TF1's stack, unstack, reverse, reverse_sequence, gather_nd, scatter_nd and
boolean_mask, composed of primitive ops (concat, slices, gather, gather_grad), so their
gradients and lowering come from those.

gather_nd turns each index tuple into a row number of params flattened over the
indexed axes and gathers rows: gather's run-time check then covers every index (a tuple
with a component out of range is sent to row −n−1, which the check refuses).
scatter_nd adds rows into zeros the same way, with gather_grad (gather's adjoint).
boolean_mask needs the mask's values when the graph is built (a constant), because its
result's size depends on them.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..ir import Node, ShapeError
from .base import apply, as_tensor, normalize_axes, normalize_axis
from .composite_reduce import reduce_any
from .elementwise import greater_equal, less, logical_or, where
from .indexing import gather, getitem
from .reduce import reduce_sum
from .shape import broadcast_to, concat, expand_dims, reshape, transpose
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


def reverse_sequence(input, seq_lengths, seq_axis=0, batch_axis=1,  # noqa: A002
                     name=None) -> Node:
    """Each batch entry b's first seq_lengths[b] elements along `seq_axis` reversed, the
    rest kept (TF1's). The lengths may be computed at run time: each output row is a
    `gather` of row (L − 1 − t if t < L else t) of the batch entry; both axes need known
    sizes."""
    x, lengths = as_tensor(input), as_tensor(seq_lengths)
    if not lengths.dtype.is_integer or lengths.rank != 1:
        raise TypeError(f"reverse_sequence: seq_lengths must be a 1-D integer tensor, got "
                        f"{lengths.type}")
    seq_axis, batch_axis = normalize_axis(seq_axis, x.rank), normalize_axis(batch_axis, x.rank)
    steps, batch = x.shape[seq_axis], x.shape[batch_axis]
    if seq_axis == batch_axis or steps is None or batch is None:
        raise ShapeError(f"reverse_sequence of '{x.name}' {x.type}: seq_axis {seq_axis} and "
                         f"batch_axis {batch_axis} must differ and have known sizes")
    dtype = lengths.dtype.np_type
    t = constant(np.arange(steps, dtype=dtype)[:, None])
    source = where(less(t, lengths), lengths - 1 - t, t)           # [steps, batch]
    rows = source * constant(dtype(batch)) + constant(np.arange(batch, dtype=dtype))
    rest = [a for a in builtins.range(x.rank) if a not in (seq_axis, batch_axis)]
    perm = [seq_axis, batch_axis] + rest
    flat = reshape(transpose(x, perm), [steps * batch] + [
        -1 if x.shape[a] is None else x.shape[a] for a in rest])
    y = reshape(gather(flat, reshape(rows, [-1])), [steps, batch] + [
        -1 if x.shape[a] is None else x.shape[a] for a in rest])
    return transpose(y, list(np.argsort(perm)), name=name or "reverse_sequence")


def _rows(indices: Node, dims: tuple, what: str) -> Node:
    """The row numbers of the index tuples in `indices` (last axis) into a tensor whose
    leading axes `dims` are flattened; a tuple with a component out of range gets a row
    far outside, which the gather's (or scatter's) run-time check refuses."""
    if not indices.dtype.is_integer:
        raise TypeError(f"{what} indices must be integers, got {indices.type}")
    info = np.iinfo(indices.dtype.np_type)
    strides = np.cumprod((1,) + dims[:0:-1])[::-1].astype(indices.dtype.np_type)
    row = reduce_sum(indices * constant(strides), -1)
    # the first axis may be the batch: its upper bound is left to gather's own check
    bounds = constant(np.asarray([info.max if d is None else d for d in dims],
                                 indices.dtype.np_type))
    outside = reduce_any(logical_or(less(indices, 0), greater_equal(indices, bounds)), -1)
    return where(outside, constant(info.min, indices.dtype), row)


def _depth(indices: Node, rank: int, what: str, shape_type) -> int:
    k = indices.shape[-1] if indices.rank else None
    if k is None or k > rank:
        raise ShapeError(f"{what}: the last axis of indices {indices.type} must have a "
                         f"known size of at most the rank of {shape_type}")
    return k


def gather_nd(params, indices, name=None, batch_dims=0) -> Node:
    """out[i...] = params[indices[i..., 0], ..., indices[i..., k−1], ...]: the last axis
    of `indices` indexes the first k axes of params (all but the first need known
    sizes).

    batch_dims=b (TF's): the first b axes of params and indices are batch axes of
    equal, known sizes, and each index tuple indexes its own batch element's params —
    the tuples get their batch position prepended (a constant grid)."""
    params, indices = as_tensor(params), as_tensor(indices)
    if batch_dims:
        if not indices.dtype.is_integer:
            raise TypeError(f"gather_nd indices must be integers, got {indices.type}")
        indices = _with_batch_positions(params, indices, int(batch_dims))
    k = _depth(indices, params.rank, "gather_nd", f"params {params.type}")
    dims = params.shape[:k]
    if None in dims[1:]:
        raise ShapeError(f"gather_nd: axes 1..{k - 1} of params {params.type} need known "
                         "sizes")
    row = _rows(indices, dims, "gather_nd")
    rows = -1 if dims[0] is None else int(np.prod(dims))
    flat = reshape(params, (rows,) + tuple(-1 if d is None else d for d in params.shape[k:]))
    return gather(flat, row, name=name or "gather_nd")


def scatter_nd(indices, updates, shape, name=None) -> Node:
    """Zeros of `shape` (known) with each of `updates` added at its index tuple (the
    last axis of `indices` indexes the first k axes; repeated tuples add up, as TF1).
    The inverse of gather_nd: its gradient to updates is a gather_nd."""
    indices, updates = as_tensor(indices), as_tensor(updates)
    shape = tuple(int(d) for d in shape)
    k = _depth(indices, len(shape), "scatter_nd", f"shape {shape}")
    rest = shape[k:]
    if tuple(updates.shape) != tuple(indices.shape[:-1]) + rest:
        raise ShapeError(f"scatter_nd: updates {updates.type} must be shaped "
                         f"indices.shape[:-1] + shape[{k}:] = "
                         f"{tuple(indices.shape[:-1]) + rest}")
    with updates.graph.as_default(), updates.graph.name_scope(name or "scatter_nd"):
        row = _rows(indices, shape[:k], "scatter_nd")
        like = broadcast_to(constant(0, updates.dtype), (int(np.prod(shape[:k])),) + rest)
        flat = apply("gather_grad", [updates, row, like], axis=0)
        return reshape(flat, shape)


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

