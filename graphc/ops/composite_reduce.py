"""Reductions and scans composed of primitive ops (TF1's reduce_prod, reduce_any,
reduce_all, reduce_logsumexp, cumsum, cumprod), so autodiff and every backend handle them with
nothing new to trust.

reduce_prod multiplies halves pairwise (log₂ n elementwise products, odd lengths padded
with a 1): its gradient is exact where elements are 0, unlike a division by x.
reduce_logsumexp is TF1's: the maximum (0 where it is not finite), held constant for
the gradient, is taken out before the exponentials. cumsum sums x against a 0/1
triangular matrix along the axis (O(n²) work: meant for the short axes of models);
cumprod takes reduce_prod of x against the same triangle, with 1 outside it, so its
gradient is exact where elements are 0.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, int32
from .base import as_tensor, normalize_axes, normalize_axis
from .elementwise import cast, equal, exp, greater, log, where, zeros_like
from .indexing import getitem, pad
from .reduce import reduce_max, reduce_min, reduce_sum, reduction_args
from .shape import expand_dims, reshape, squeeze, transpose
from .state import constant, identity, stop_gradient


def _to_last_axis(x: Node, axes: tuple[int, ...], what: str) -> Node:
    """x with the `axes` moved to the end and flattened into one axis of known size."""
    sizes = [x.shape[a] for a in axes]
    if None in sizes:
        raise ShapeError(f"{what} over axes {axes} of '{x.name}' {x.type}: the reduced "
                         "axes need known sizes")
    kept = [a for a in range(x.rank) if a not in axes]
    if kept + list(axes) != list(range(x.rank)):
        x = transpose(x, kept + list(axes))
    if len(axes) == 1:
        return x
    kept_dims = [x.shape[i] for i in range(len(kept))]
    if kept_dims.count(None) > 1:
        raise ShapeError(f"{what} of '{x.name}' {x.type}: at most one kept axis may have "
                         "an unknown size")
    return reshape(x, [-1 if d is None else d for d in kept_dims] + [int(np.prod(sizes))])


def _restore(y: Node, axes, keepdims: bool, name) -> Node:
    """y (the kept axes) with the reduced axes back as 1s when keepdims."""
    if keepdims and axes:
        y = expand_dims(y, axes)
    return identity(y, name=name) if name else y


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None, keep_dims=None,
                reduction_indices=None) -> Node:
    """Product over `axis` (all axes when None); 1 over no elements."""
    x = as_tensor(input_tensor)
    axis, keepdims = reduction_args(axis, keepdims, keep_dims, reduction_indices)
    axes = normalize_axes(axis, x.rank)
    if not axes:
        return _restore(x, axes, keepdims, name)
    t = _to_last_axis(x, axes, "reduce_prod")
    n = t.shape[-1]
    if n == 0:
        return _restore(reduce_sum(t, -1) + 1, axes, keepdims, name)
    while n > 1:
        if n % 2:
            t = pad(t, [(0, 0)] * (t.rank - 1) + [(0, 1)], constant_values=1)
            n += 1
        t = getitem(t, (Ellipsis, slice(0, n // 2))) * getitem(t, (Ellipsis, slice(n // 2, n)))
        n //= 2
    return _restore(getitem(t, (Ellipsis, 0)), axes, keepdims, name or "reduce_prod")


def _bool_reduce(fold, what):
    def op(input_tensor, axis=None, keepdims=False, name=None, keep_dims=None,
           reduction_indices=None) -> Node:
        x = as_tensor(input_tensor)
        if not x.dtype.is_bool:
            raise TypeError(f"{what} needs a bool tensor, got '{x.name}' {x.type}")
        axis, keepdims = reduction_args(axis, keepdims, keep_dims, reduction_indices)
        return greater(fold(cast(x, int32), axis, keepdims), 0, name=name or what)
    op.__name__ = what
    return op


reduce_any = _bool_reduce(reduce_max, "reduce_any")
reduce_any.__doc__ = "Logical or over `axis`; False over no elements."
reduce_all = _bool_reduce(reduce_min, "reduce_all")
reduce_all.__doc__ = "Logical and over `axis`; True over no elements."


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None, keep_dims=None,
                     reduction_indices=None) -> Node:
    """log Σ exp(x) over `axis`, without overflow (TF1's formulation)."""
    x = as_tensor(input_tensor)
    axis, keepdims = reduction_args(axis, keepdims, keep_dims, reduction_indices)
    axes = normalize_axes(axis, x.rank)
    raw = reduce_max(x, axes, keepdims=True)
    finite = equal(raw - raw, zeros_like(raw))       # false for ±inf and NaN
    shift = stop_gradient(where(finite, raw, zeros_like(raw)))
    y = log(reduce_sum(exp(x - shift), axes, keepdims=True)) + shift
    if not keepdims:
        y = squeeze(y, axes)
    return identity(y, name=name or "reduce_logsumexp")


def _scan(x, axis, exclusive, reverse, what, combine) -> Node:
    """combine(t, upto, axis_of_j): y[i] from the x[j] that `upto[j, i]` marks, with x's
    `axis` moved last (j) and a new last axis i."""
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.rank)
    n = x.shape[axis]
    if n is None:
        raise ShapeError(f"{what} along axis {axis} of '{x.name}' {x.type}: the axis needs "
                         "a known size")
    j, i = np.arange(n)[:, None], np.arange(n)[None, :]
    upto = (j >= i) if reverse else (j <= i)
    if exclusive:
        upto &= j != i
    last = axis == x.rank - 1
    perm = [a for a in range(x.rank) if a != axis] + [axis]
    t = x if last else transpose(x, perm)
    y = combine(expand_dims(t, -1), upto)
    if not last:
        y = transpose(y, np.argsort(perm).tolist())
    return y


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None) -> Node:
    """Running sums along `axis`: y[i] = Σ_{j ≤ i} x[j] (j < i when exclusive; from the
    end when reverse)."""
    def combine(t, upto):                   # weights[j, i]: x[j] in y[i]
        return reduce_sum(t * constant(upto.astype(t.dtype.np_type)), -2)
    return identity(_scan(x, axis, exclusive, reverse, "cumsum", combine),
                    name=name or "cumsum")


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None) -> Node:
    """Running products along `axis`: y[i] = Π_{j ≤ i} x[j] (j < i when exclusive, 1
    for none; from the end when reverse)."""
    def combine(t, upto):
        ones = constant(np.ones((), t.dtype.np_type))
        return reduce_prod(where(constant(upto), t, ones), -2)
    return identity(_scan(x, axis, exclusive, reverse, "cumprod", combine),
                    name=name or "cumprod")
