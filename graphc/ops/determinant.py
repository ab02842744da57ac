"""TF1's tf.linalg.det, composed of graph ops: Gaussian elimination with partial
pivoting, unrolled over the n columns of a known size (O(n³) elementwise work: meant for
small matrices). Each step swaps the row with the largest |pivot| into place (an
argmax and one-hot row algebra), so the elimination is as stable as LAPACK's LU; the
determinant is the product of the pivots with the swaps' sign. The pivot choice is
piecewise constant, so autodiff differentiates the elimination itself: det(A)·A⁻ᵀ
wherever A is invertible."""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor
from .elementwise import abs, equal, where
from .indexing import getitem, one_hot
from .reduce import argmax, reduce_sum
from .shape import expand_dims
from .state import constant, identity


def det(input, name=None) -> Node:  # noqa: A002 - TF1 name
    """Determinants of the square matrices in the last two axes of a float tensor."""
    a = as_tensor(input)
    n = a.shape[-1] if a.rank >= 2 else None
    if n is None or a.shape[-2] != n or not a.dtype.is_floating:
        raise ShapeError(f"det of '{a.name}' {a.type}: needs float square matrices of known "
                         "size in the last two axes")
    dtype = a.dtype.np_type
    rows = np.arange(n)
    result = None
    for k in range(n):
        column = getitem(a, (Ellipsis, slice(None), k))                       # [..., n]
        candidates = where(constant(rows >= k), abs(column),
                           constant(np.full(n, -1.0, dtype)))
        hot = one_hot(argmax(candidates, -1), n, dtype=a.dtype)              # row p
        row_p = reduce_sum(a * expand_dims(hot, -1), -2)                     # [..., n]
        row_k = getitem(a, (Ellipsis, k, slice(None)))
        e_k = constant(np.eye(n, dtype=dtype)[k])
        swap = row_p - row_k                    # p = k: both terms below cancel
        a = a + expand_dims(e_k, -1) * expand_dims(swap, -2) \
            - expand_dims(hot, -1) * expand_dims(swap, -2)
        swapped = 1.0 - 2.0 * (1.0 - getitem(hot, (Ellipsis, k)))          # −1 if p ≠ k
        pivot = getitem(a, (Ellipsis, k, k))
        factor = pivot * swapped
        result = factor if result is None else result * factor
        if k + 1 < n:
            safe = where(equal(pivot, 0.0), constant(np.ones((), dtype)), pivot)
            below = constant((rows > k).astype(dtype))
            multipliers = getitem(a, (Ellipsis, slice(None), k)) * below / \
                expand_dims(safe, -1)
            a = a - expand_dims(multipliers, -1) * expand_dims(
                getitem(a, (Ellipsis, k, slice(None))), -2)
    return identity(result, name=name or "det")
