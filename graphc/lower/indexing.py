"""Index arithmetic that lowering and the ops' rules share: numpy broadcasting of an
index, unravelling a row-major position, clamping an index into an axis."""
from __future__ import annotations

from .loopir import Binary, Compare, Expr, idx, row_major_strides


def broadcast_index(index: tuple, out_shape, in_shape) -> tuple:
    """numpy broadcasting: align right, size-1 axes read element 0."""
    lead = len(out_shape) - len(in_shape)
    return tuple(idx(0) if d == 1 and out_shape[lead + i] != 1 else index[lead + i]
                 for i, d in enumerate(in_shape))


def unravel(linear: Expr, shape) -> tuple:
    """Row-major multi-index of a linear position."""
    total = 1
    for d in shape:
        total *= d
    out = []
    for d, s in zip(shape, row_major_strides(shape)):
        if d == 1:
            out.append(idx(0))
            continue
        q = linear if s == 1 else Binary("floordiv", linear, idx(s))
        out.append(q if s * d == total else Binary("mod", q, idx(d)))
    return tuple(out)


def clamp(i: Expr, size: int) -> Expr:
    return Binary("max", Binary("min", i, idx(size - 1)), idx(0))


def in_range(i: Expr, size: int) -> Expr:
    return Binary("and", Compare("ge", i, idx(0)), Compare("lt", i, idx(size)))
