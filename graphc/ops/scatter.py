"""Scatters: TF1's tf.tensor_scatter_nd_update / _add / _sub / _max /
_min (and _mul), on one primitive, `scatter_rows`.

scatter_rows(data, indices, updates) writes update row m into row indices[m] of a copy of
data (data [N, ...], indices [M], updates [M, ...]), replacing it or combining with it
(add, mul, max, min), in the order of m: with repeated indices the last update wins, or
all of them combine. The nd functions turn each index tuple into a row number of the
tensor flattened over the indexed axes, as gather_nd does; a tuple with a component out
of range becomes a row the run-time index check refuses.

Gradients (in graph ops): add sends ḡ to data and gather(ḡ, indices) to the updates.
The others treat each row as written once (TF1's assumption for update): update clears
the written rows of ḡ for data; mul sends ḡ times the other factor to each side; max
and min send ḡ to the side that won, ties to data.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, register
from ..ir.errors import dtype_error, shape_error
from .base import apply, as_tensor, as_tensors_like, same_dtype
from .composite_reduce import reduce_any
from .elementwise import equal, greater_equal, less, logical_or, where, zeros_like
from .indexing import gather
from .reduce import reduce_sum
from .shape import reshape
from .state import constant

REDUCTIONS = ("update", "add", "mul", "max", "min")
_AT = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


class ScatterRows(OpDef):
    name = "scatter_rows"
    lowering = "scatter_rows"
    index_checks = (1, 0)       # compiled code checks the indices against data's rows
    fusion = Fusion.OPAQUE
    num_inputs = 3

    def normalize_attrs(self, inputs, attrs):
        if attrs["reduction"] not in REDUCTIONS:
            raise shape_error(f"scatter reduction must be one of {REDUCTIONS}, got "
                              f"{attrs['reduction']!r}")
        return {"reduction": attrs["reduction"], "axis": 0}

    def printed_attrs(self, attrs):
        return {"reduction": attrs["reduction"]}

    def infer(self, inputs, attrs):
        data, indices, updates = inputs
        same_dtype([data, updates], "scatter's data and updates")
        if not indices.dtype.is_integer or indices.rank != 1:
            raise dtype_error(f"scatter indices must be a vector of integers, got {indices}")
        if data.rank < 1 or updates.rank != data.rank or not _fits(updates.shape[0],
                                                                     indices.shape[0]) \
                or not all(_fits(u, d) for u, d in zip(updates.shape[1:], data.shape[1:])):
            raise shape_error(f"scatter updates {updates} must be one row of data {data} "
                              f"per index {indices}")
        if data.dtype.is_bool and attrs["reduction"] != "update":
            raise dtype_error(f"scatter reduction {attrs['reduction']} of bool data")
        return data

    def reference(self, node, data, indices, updates):
        n = data.shape[0]
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"scatter index out of range [{-n}, {n}): min "
                             f"{indices.min()}, max {indices.max()}")
        out = data.copy()
        rows = np.where(indices < 0, indices + n, indices)
        reduction = node.attrs["reduction"]
        if reduction == "update":
            for m, row in enumerate(rows):          # in order: the last write wins
                out[row] = updates[m]
        else:
            _AT[reduction].at(out, rows, updates)
        return out

    def grad(self, node, gy):
        data, indices, updates = node.inputs
        reduction = node.attrs["reduction"]
        gathered = gather(gy, indices)
        if reduction == "add":
            return [gy, None, gathered]
        if reduction == "update":
            return [scatter_rows(gy, indices, zeros_like(updates)), None, gathered]
        if reduction == "mul":
            return [scatter_rows(gy, indices, updates, "mul"), None,
                    gather(gy * data, indices)]
        data_won = equal(gather(node, indices), gather(data, indices))
        return [where(equal(node, data), gy, zeros_like(gy)), None,
                where(data_won, zeros_like(gathered), gathered)]


def _fits(a, b) -> bool:
    return a is None or b is None or a == b


register(ScatterRows())


def scatter_rows(data, indices, updates, reduction="update", name=None) -> Node:
    return apply("scatter_rows", [as_tensor(data), as_tensor(indices), as_tensor(updates)],
                 name=name, reduction=reduction)


def tensor_scatter_nd(tensor, indices, updates, reduction="update", name=None) -> Node:
    """A copy of `tensor` with `updates` written at the index tuples of `indices` (its
    last axis indexes the first k axes of tensor; updates are shaped
    indices.shape[:-1] + tensor.shape[k:]), replacing the slices or combined with them
    by `reduction`: "update", "add", "mul", "max" or "min"."""
    tensor, updates = as_tensors_like(tensor, updates)      # a list takes tensor's dtype
    indices = as_tensor(indices)
    if not indices.dtype.is_integer:
        raise TypeError(f"scatter indices must be integers, got {indices.type}")
    k = indices.shape[-1] if indices.rank else None
    if k is None or not 1 <= k <= tensor.rank:
        raise ValueError(f"scatter: the last axis of indices {indices.type} must have a "
                         f"known size from 1 to the rank of the tensor {tensor.type}")
    dims, rest = tensor.shape[:k], tensor.shape[k:]
    if None in dims[1:]:
        raise ValueError(f"scatter: axes 1..{k - 1} of the tensor {tensor.type} need known "
                         "sizes")
    want = tuple(indices.shape[:-1]) + tuple(rest)
    if updates.rank != len(want) or not all(_fits(u, w) for u, w in zip(updates.shape, want)):
        raise ValueError(f"scatter: updates {updates.type} must have the shape {want} "
                         f"(indices {indices.type}, tensor {tensor.type})")
    np_type = indices.dtype.np_type
    info = np.iinfo(np_type)
    strides = np.cumprod((1,) + dims[:0:-1])[::-1].astype(np_type)
    row = reduce_sum(indices * constant(strides), -1)
    bounds = constant(np.asarray([info.max if d is None else d for d in dims], np_type))
    outside = reduce_any(logical_or(less(indices, 0), greater_equal(indices, bounds)), -1)
    row = reshape(where(outside, constant(info.min, indices.dtype), row), (-1,))
    rest_dims = tuple(-1 if d is None else d for d in rest)
    flat = reshape(tensor, (-1 if dims[0] is None else int(np.prod(dims)),) + rest_dims)
    rows = reshape(updates, (-1,) + rest_dims)
    shape = [-1 if d is None else d for d in tensor.shape]
    return reshape(scatter_rows(flat, row, rows, reduction), shape,
                   name=name or f"tensor_scatter_nd_{reduction}")


def _named(reduction, doc):
    def fn(tensor, indices, updates, name=None) -> Node:
        return tensor_scatter_nd(tensor, indices, updates, reduction, name)
    fn.__name__, fn.__doc__ = f"tensor_scatter_nd_{reduction}", doc
    return fn


tensor_scatter_nd_update = _named("update", "tensor with its slices at indices replaced by "
                                  "updates (the last of repeated indices wins).")
tensor_scatter_nd_add = _named("add", "tensor with updates added at indices.")
tensor_scatter_nd_mul = _named("mul", "tensor with its slices at indices multiplied by "
                               "updates.")
tensor_scatter_nd_max = _named("max", "the larger of tensor and updates at indices.")
tensor_scatter_nd_min = _named("min", "the smaller of tensor and updates at indices.")


def tensor_scatter_nd_sub(tensor, indices, updates, name=None) -> Node:
    """tensor with updates subtracted at indices."""
    tensor, updates = as_tensors_like(tensor, updates)
    return tensor_scatter_nd(tensor, indices, -updates, "add", name)

