"""The loop-IR builder an op's lowering rules receive (OpDef.scalar and .element): the
expression constructors and index helpers, so that everything about an op lives in its
own module under graphc/ops without that module importing the lowering."""
from __future__ import annotations

from ..ir import bool_, int64
from .loopir import (Binary, Cast, Compare, Const, Load, Select, Unary, add, const, idx,
                     linear_index, mul, row_major_strides)
from .indexing import broadcast_index, clamp, in_range, unravel


class LoopIRBuilder:
    # -- expressions ------------------------------------------------------------------------
    const = staticmethod(const)            # const(value, dtype)
    index = staticmethod(idx)              # an int64 index (or a symbolic size's expression)
    load = staticmethod(Load)              # load(buffer, index, dtype)

    @staticmethod
    def like(x, value):
        """`value` in x's dtype."""
        return const(value, x.dtype)

    @staticmethod
    def true():
        return Const(True, bool_)

    @staticmethod
    def unary(op: str, x):
        return Unary(op, x)

    @staticmethod
    def binary(op: str, a, b):
        return Binary(op, a, b)

    @staticmethod
    def compare(op: str, a, b):
        return Compare(op, a, b)

    @staticmethod
    def select(condition, a, b):
        return Select(condition, a, b)

    @staticmethod
    def cast(x, dtype):
        return Cast(x, dtype)

    @staticmethod
    def bitcast(x, dtype):
        """x's bits as `dtype` (of x's size)."""
        return Cast(x, dtype, bits=True)

    @staticmethod
    def to_index(x):
        """An integer value as an int64 index."""
        return Cast(x, int64)

    # -- index arithmetic -------------------------------------------------------------------
    add = staticmethod(add)
    mul = staticmethod(mul)
    linear_index = staticmethod(linear_index)
    row_major_strides = staticmethod(row_major_strides)
    broadcast_index = staticmethod(broadcast_index)
    clamp = staticmethod(clamp)
    in_range = staticmethod(in_range)
    unravel = staticmethod(unravel)


B = LoopIRBuilder()
