"""Ops whose result's size depends on their input's values: TF1's one-argument where
(the true positions) and unique, and the Array API's unique_all. graphc's shapes are
fixed when the graph is built, so the input must be a constant then (as boolean_mask's
mask); the values picked are a `gather` of the input, so they are graph ops.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..ir import Node, ShapeError, as_dtype, int32, int64
from .base import as_tensor, normalize_axis
from .indexing import gather
from .shape import reshape
from .state import constant

UniqueAll = namedtuple("UniqueAll", ["values", "indices", "inverse_indices", "counts"])
Unique = namedtuple("Unique", ["y", "idx"])
UniqueWithCounts = namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def constant_value(x: Node, op: str, what: str) -> np.ndarray:
    """x's value, which must be a constant: else a ShapeError naming `op`."""
    if x.op.name != "constant":
        raise ShapeError(f"{op}: {what} '{x.name}' is computed at run time, so the result's "
                         "size is unknown when the graph is built; graphc needs a constant")
    return x.attrs["value"]


def where_indices(condition, name=None) -> Node:
    """The indices of the true (non-zero) elements of a constant `condition`, int64
    [count, rank] in row-major order (TF1's where with one argument)."""
    condition = as_tensor(condition)
    value = constant_value(condition, "where", "the condition")
    return constant(np.argwhere(value).astype(np.int64), name=name or "where")


def unique_all(x, axis=None, sorted=True, name=None) -> UniqueAll:  # noqa: A002
    """(values, indices, inverse_indices, counts) of a constant `x` (flattened, or its
    slices along `axis`): the distinct values, sorted or (sorted=False) in order of first
    appearance; where each first appears; which value each element is; how often each
    appears. Indices and counts are int64 constants; values a `gather` of x."""
    x = as_tensor(x)
    value = constant_value(x, "unique", "the input")
    if axis is None:
        x, value, axis = reshape(x, [-1]), value.reshape(-1), 0
    axis = normalize_axis(int(axis), x.rank)
    _, first, inverse, counts = np.unique(value, return_index=True, return_inverse=True,
                                          return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        first, counts, inverse = first[order], counts[order], position[inverse]
    as64 = [constant(a.astype(np.int64)) for a in (first, inverse, counts)]
    values = gather(x, as64[0], axis=axis, name=name or "unique")
    return UniqueAll(values, *as64)


def unique(x, out_idx=int32, name=None) -> Unique:
    """(y, idx) of a constant 1-D `x`: its distinct values in order of first appearance,
    and each element's position in y (TF1's)."""
    parts = unique_all(_vector(x), sorted=False, name=name)
    return Unique(parts.values, _as(parts.inverse_indices, out_idx))


def unique_with_counts(x, out_idx=int32, name=None) -> UniqueWithCounts:
    """unique's (y, idx) and how often each value appears (TF1's)."""
    parts = unique_all(_vector(x), sorted=False, name=name)
    return UniqueWithCounts(parts.values, _as(parts.inverse_indices, out_idx),
                            _as(parts.counts, out_idx))


def _vector(x) -> Node:
    x = as_tensor(x)
    if x.rank != 1:
        raise ShapeError(f"unique needs a 1-D tensor, got '{x.name}' {x.type}")
    return x


def _as(index: Node, dtype) -> Node:
    dtype = as_dtype(dtype)
    if dtype not in (int32, int64):
        raise TypeError(f"unique's out_idx must be int32 or int64, got {dtype.name}")
    return constant(index.attrs["value"].astype(dtype.np_type))
