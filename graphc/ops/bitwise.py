"""TF1's tf.bitwise: and, or, xor, invert and the shifts of int32 / int64 tensors, as
rows of the elementwise tables.

Shift amounts outside [0, width) shift every bit out, whatever the sign of the amount:
a left shift gives 0, a right shift (arithmetic) 0 or −1 by the sign of x. C and LLVM
leave such shifts undefined, so the rules shift by an amount clamped into range and pick
the shifted-out value afterwards.
"""
from __future__ import annotations

import numpy as np

from ..ir import register
from ..ir.errors import dtype_error
from .base import apply, as_tensor, as_tensors_like
from .elementwise import BinaryOp, UnaryOp


def _width(dtype) -> int:
    return np.dtype(dtype.np_type).itemsize * 8


def _shift_reference(shift):
    def reference(x, s):
        inside = (s >= 0) & (s < x.dtype.itemsize * 8)
        shifted = shift(x, np.where(inside, s, 0).astype(x.dtype))
        out_of_range = 0 if shift is np.left_shift else np.where(x < 0, -1, 0)
        return np.where(inside, shifted, out_of_range)
    return reference


def _shift_rule(loop_op):
    def rule(b, node, x, s):
        inside = b.binary("and", b.compare("ge", s, b.like(s, 0)),
                          b.compare("lt", s, b.like(s, _width(node.dtype))))
        shifted = b.binary(loop_op, x, b.select(inside, s, b.like(s, 0)))
        if loop_op == "shl":
            out_of_range = b.like(x, 0)
        else:
            out_of_range = b.select(b.compare("lt", x, b.like(x, 0)), b.like(x, -1),
                                    b.like(x, 0))
        return b.select(inside, shifted, out_of_range)
    return rule


def _s_invert(b, node, x):
    return b.binary("xor", x, b.like(x, -1))


class IntegerUnaryOp(UnaryOp):
    def infer(self, inputs, attrs):
        if not inputs[0].dtype.is_integer:
            raise dtype_error(f"{self.name} needs an int32 or int64 input, got {inputs[0]}")
        return inputs[0]


for _row in [
    BinaryOp("bitwise_and", np.bitwise_and, None, kinds="integer", loop="and"),
    BinaryOp("bitwise_or", np.bitwise_or, None, kinds="integer", loop="or"),
    BinaryOp("bitwise_xor", np.bitwise_xor, None, kinds="integer", loop="xor"),
    BinaryOp("left_shift", _shift_reference(np.left_shift), None, kinds="integer",
             rule=_shift_rule("shl")),
    BinaryOp("right_shift", _shift_reference(np.right_shift), None, kinds="integer",
             rule=_shift_rule("sar")),
    IntegerUnaryOp("invert", np.invert, None, float_only=False, rule=_s_invert),
]:
    register(_row)


def _binary(op_name, doc):
    def op(x, y, name=None):
        return apply(op_name, as_tensors_like(x, y), name=name)
    op.__name__, op.__doc__ = op_name, doc
    return op


bitwise_and = _binary("bitwise_and", "Elementwise x & y of integers (broadcasting).")
bitwise_or = _binary("bitwise_or", "Elementwise x | y of integers (broadcasting).")
bitwise_xor = _binary("bitwise_xor", "Elementwise x ^ y of integers (broadcasting).")
left_shift = _binary("left_shift", "x << y, wrapping; 0 for y outside [0, width).")
right_shift = _binary("right_shift", "x >> y, arithmetic; 0 or −1 (x's sign) for y "
                      "outside [0, width).")


def invert(x, name=None):
    """~x of integers."""
    return apply("invert", [as_tensor(x)], name=name)
