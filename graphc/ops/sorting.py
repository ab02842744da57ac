"""sort, argsort and top_k along the last axis, composed of comparisons and sums.

Each element's rank is the number of elements that come before it (larger ones for a
descending sort, and equal ones earlier in the row, so ties keep their order: a stable
sort); the sorted row's position r then collects the element whose rank is r. O(n²)
comparisons per row: meant for the short rows of class scores. The values' gradient is
ḡ at the rank each element went to, through the piecewise-constant 0/1 selection.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, int32
from .base import as_tensor
from .elementwise import cast, equal, greater, less, logical_and, logical_or
from .indexing import getitem
from .reduce import reduce_sum
from .shape import expand_dims
from .state import constant, identity


def _ranks_and_selection(x: Node, descending: bool):
    """(n, the one-hot selection sel[..., r, i] = [rank of element i is r])."""
    n = x.shape[-1] if x.rank else None
    if n is None:
        raise ShapeError(f"sorting '{x.name}' {x.type}: the last axis needs a known size")
    a, b = expand_dims(x, -1), expand_dims(x, -2)         # a[..., i, j] = x_i, b = x_j
    before = greater(b, a) if descending else less(b, a)
    earlier = constant(np.arange(n)[None, :] < np.arange(n)[:, None])   # [j < i]
    ties = logical_and(equal(b, a), earlier)
    rank = reduce_sum(cast(logical_or(before, ties), int32), -1)         # [..., i]
    selection = equal(expand_dims(rank, -2), constant(np.arange(n, dtype=np.int32)[:, None]))
    return n, selection


def sort(values, axis=-1, direction="ASCENDING", name=None) -> Node:
    """The last axis sorted (stable); direction "ASCENDING" or "DESCENDING"."""
    x = _last_axis(values, axis)
    _, selection = _ranks_and_selection(x, _descending(direction))
    return identity(reduce_sum(cast(selection, x.dtype) * expand_dims(x, -2), -1),
                    name=name or "sort")


def argsort(values, axis=-1, direction="ASCENDING", stable=True, name=None) -> Node:
    """The int32 positions that sort the last axis (stable)."""
    x = _last_axis(values, axis)
    n, selection = _ranks_and_selection(x, _descending(direction))
    positions = constant(np.arange(n, dtype=np.int32))
    return identity(reduce_sum(cast(selection, int32) * positions, -1), name=name or "argsort")


def top_k(input, k=1, sorted=True, name=None) -> tuple[Node, Node]:  # noqa: A002
    """(values, indices) of the k largest entries of each row, largest first; equal
    values in index order."""
    x = as_tensor(input)
    n, selection = _ranks_and_selection(x, True)
    if not 1 <= k <= n:
        raise ValueError(f"top_k: k = {k} is not in [1, {n}] for '{x.name}' {x.type}")
    picked = getitem(selection, (Ellipsis, slice(0, int(k)), slice(None)))
    values = reduce_sum(cast(picked, x.dtype) * expand_dims(x, -2), -1)
    indices = reduce_sum(cast(picked, int32) * constant(np.arange(n, dtype=np.int32)), -1)
    base = name or "top_k"
    return identity(values, name=f"{base}_values"), identity(indices, name=f"{base}_indices")


def _last_axis(values, axis) -> Node:
    x = as_tensor(values)
    if axis not in (-1, x.rank - 1):
        raise NotImplementedError("sort and argsort run along the last axis (transpose first)")
    return x


def _descending(direction: str) -> bool:
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"direction must be 'ASCENDING' or 'DESCENDING', got {direction!r}")
    return direction == "DESCENDING"
